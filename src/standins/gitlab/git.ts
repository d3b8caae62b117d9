import { execFile } from 'node:child_process';

// Runs git with an argv array (never a shell): refs, paths and messages in tests are hostile on purpose.
// The environment is pinned so a developer's global git config (hooks, signing, templates) cannot leak in.
export interface GitResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

const GIT_ENV: NodeJS.ProcessEnv = {
  PATH: process.env['PATH'] ?? '/usr/bin:/bin',
  HOME: process.env['HOME'] ?? '/tmp',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
  LC_ALL: 'C',
};

export interface GitOptions {
  cwd?: string;
  input?: string;
  env?: Record<string, string>;
}

export function runGit(args: readonly string[], opts: GitOptions = {}): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      [...args],
      { cwd: opts.cwd, env: { ...GIT_ENV, ...opts.env }, encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        // A non-zero exit is an answer (missing ref, missing path), not a crash; only spawn failures reject.
        if (err && typeof err.code !== 'number') {
          reject(err);
          return;
        }
        resolve({ code: err ? Number(err.code) : 0, stdout, stderr: stderr.toString('utf8') });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export async function gitOk(args: readonly string[], opts: GitOptions = {}): Promise<string> {
  const r = await runGit(args, opts);
  if (r.code !== 0) throw new Error(`git ${args[0] ?? ''} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout.toString('utf8');
}

export const gitEnv = GIT_ENV;
