import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Every git call goes through here: argv arrays (never a shell), no
 * interactive prompts, and a hard timeout that kills the whole process group
 * (git clone/fetch spawn helpers such as upload-pack and remote-http).
 */
export const GIT_ENV: Readonly<Record<string, string>> = {
  GIT_TERMINAL_PROMPT: '0',
};

// Protocols a clone URL may use; `ext::` would run arbitrary commands.
const SAFE_CONFIG = ['-c', 'protocol.ext.allow=never'];
const MAX_OUTPUT = 8 * 1024 * 1024;

export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly stdout: string = '',
  ) {
    super(message);
  }
}

export function spawnGit(args: readonly string[], env: Record<string, string> = {}, opts: { stdin?: boolean } = {}): ChildProcess {
  return spawn('git', [...SAFE_CONFIG, ...args], {
    env: { ...process.env, ...GIT_ENV, ...env },
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    detached: true, // own process group, so a timeout can kill git's helpers too
  });
}

/** HTTP credentials for fetches, e.g. { username: 'oauth2', password: <GitLab token> }. */
export interface GitHttpAuth {
  username: string;
  password: string;
}

/**
 * The environment that makes git send `Authorization: Basic base64(user:password)` with its HTTP
 * requests to `url`'s origin only (`http.<origin>/.extraHeader`, so a redirect to another host gets
 * nothing). It goes through GIT_CONFIG_COUNT / GIT_CONFIG_KEY_n / GIT_CONFIG_VALUE_n: unlike `-c` or
 * a URL with user:password@, the environment is not in the process list (/proc/<pid>/cmdline is
 * world-readable, /proc/<pid>/environ only by the owner), and git stores none of it in the mirror's
 * config. Entries already in our environment's GIT_CONFIG_* are kept.
 */
export function httpAuthEnv(url: string, auth: GitHttpAuth): Record<string, string> {
  const { origin } = new URL(url);
  const first = Number.parseInt(process.env['GIT_CONFIG_COUNT'] ?? '0', 10) || 0;
  const header = `Authorization: Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  return {
    GIT_CONFIG_COUNT: String(first + 1),
    [`GIT_CONFIG_KEY_${first}`]: `http.${origin}/.extraHeader`,
    [`GIT_CONFIG_VALUE_${first}`]: header,
  };
}

export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** Runs git to completion; rejects with GitError (stderr included, secrets redacted) on failure or timeout. */
export async function runGit(args: readonly string[], timeoutMs: number, env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  const { stdout, stderr } = await collectGit(args, timeoutMs, env, { maxStdout: MAX_OUTPUT, overflow: 'truncate' });
  return { stdout: stdout.toString('utf8'), stderr };
}

/**
 * Runs git to completion and returns its output as bytes (file names in `ls-tree -z` need not be
 * text). Output over `maxBytes` fails the call rather than being cut short.
 */
export async function runGitBytes(args: readonly string[], timeoutMs: number, maxBytes: number): Promise<Buffer> {
  return (await collectGit(args, timeoutMs, {}, { maxStdout: maxBytes, overflow: 'fail' })).stdout;
}

function collectGit(
  args: readonly string[],
  timeoutMs: number,
  env: Record<string, string>,
  limit: { maxStdout: number; overflow: 'truncate' | 'fail' },
): Promise<{ stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnGit(args, env);
    const chunks: Buffer[] = [];
    let size = 0;
    let overflowed = false;
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (c: Buffer) => {
      if (size >= limit.maxStdout) {
        if (limit.overflow === 'fail' && !overflowed) {
          overflowed = true;
          killGroup(child);
        }
        return;
      }
      chunks.push(c);
      size += c.length;
    });
    child.stderr?.on('data', (c: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += c.toString('utf8');
    });
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new GitError(`git ${describe(args)}: ${err.message}`, null, ''));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(chunks);
      if (code === 0 && !timedOut && !overflowed) return resolve({ stdout, stderr });
      const why = overflowed
        ? `printed more than ${limit.maxStdout} bytes`
        : timedOut
          ? `timed out after ${timeoutMs}ms`
          : `exit ${code}: ${redact(stderr.trim())}`;
      reject(new GitError(`git ${describe(args)} ${why}`, code, redact(stderr), stdout.toString('utf8')));
    });
  });
}

/** The subcommand only: arguments may hold URLs with tokens. */
function describe(args: readonly string[]): string {
  return args.find((a) => !a.startsWith('-') && !a.includes('=')) ?? 'command';
}

/** Hides credentials in URLs (https://oauth2:TOKEN@host → https://***@host) before text reaches logs. */
export function redact(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1***@');
}
