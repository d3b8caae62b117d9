import { PassThrough, Writable, type Readable } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';

export interface ExecResult {
  exitCode: number;
  stderr: string;
}

/**
 * Runs `command` (an argv array) in a container of a running Pod over the exec subresource, with a
 * deadline. stdin is written but never ended: on Kubernetes before 1.29 (websocket protocol v4) the
 * client can only close the whole connection to signal EOF, which cuts the command off before its
 * status arrives. A command that reads stdin must therefore know how much to read (`head -c N`).
 */
export async function execInPod(
  kc: KubeConfig,
  target: { namespace: string; pod: string; container: string },
  command: string[],
  io: { stdin?: Readable; stdout?: Writable; timeoutMs: number; what: string },
): Promise<ExecResult> {
  let stderr = '';
  const errSink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (stderr.length < 4000) stderr += chunk.toString('utf8');
      cb();
    },
  });
  const stdin = io.stdin ? new PassThrough() : null;
  if (io.stdin && stdin) io.stdin.pipe(stdin, { end: false });
  let settle: (s: V1Status) => void = () => undefined;
  const status = new Promise<V1Status>((resolve) => {
    settle = resolve;
  });
  let timer: NodeJS.Timeout | undefined;
  const ws = await new Exec(kc).exec(target.namespace, target.pod, target.container, command, io.stdout ?? null, errSink, stdin, false, (s) => settle(s));
  const closed = new Promise<never>((_, reject) => {
    ws.on('close', () => reject(new Error(`${io.what}: the exec connection closed before the command's exit status`)));
  });
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${io.what}: no exit status within ${io.timeoutMs}ms`)), io.timeoutMs);
  });
  try {
    const s = await Promise.race([status, closed, expired]);
    return { exitCode: exitCodeOf(s), stderr: stderr.trim() };
  } finally {
    clearTimeout(timer);
    if (io.stdin && stdin) io.stdin.unpipe(stdin);
    ws.close();
  }
}

/** `Success`, or the `ExitCode` cause of a `NonZeroExitCode` failure; -1 for any other failure. */
export function exitCodeOf(s: V1Status): number {
  if (s.status === 'Success') return 0;
  const code = s.details?.causes?.find((c) => c.reason === 'ExitCode')?.message;
  return code !== undefined && /^\d+$/.test(code) ? Number(code) : -1;
}
