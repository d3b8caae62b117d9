import { execFile } from 'node:child_process';

/** GNU tar with an argv array (never a shell) and a hard timeout. */
export function runTar(args: readonly string[], timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile('tar', [...args], { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const why = err.killed ? `timed out after ${timeoutMs}ms` : `exit ${String(err.code)}: ${stderr.trim().slice(0, 500)}`;
      reject(new Error(`tar ${args[0] ?? ''} ${why}`));
    });
  });
}
