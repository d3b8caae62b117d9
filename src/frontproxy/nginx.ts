import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseSite, renderSite, siteFileName, type Route } from './site-config.js';

/** Why the front proxy could not be changed; what served before still serves. */
export class FrontProxyError extends Error {
  override name = 'FrontProxyError';
}

export interface NginxFrontProxyOptions {
  /** The instance's directory (`.ci/services.sh` makes it): nginx.conf, nginx.pid, sites/, logs/. */
  dir: string;
  /** The nginx binary. */
  nginx?: string;
  /** Deadline of each nginx command (-t, -s reload). */
  commandTimeoutMs?: number;
  /**
   * How long a reload may take: until the new workers run and the old ones have finished the
   * requests they were serving (nginx.conf's worker_shutdown_timeout bounds those).
   */
  reloadTimeoutMs?: number;
}

/**
 * The front proxy: an nginx instance of Slipway's own (not the system's), started by the project's
 * scripts, in front of a service's release containers. Slipway writes one site file per service
 * and environment and reloads nginx gracefully: the old workers finish the requests they hold while
 * the new ones take every new connection, so a change of weights drops no request.
 *
 * Changes are serialized in this process (the environment lock already keeps two deploys of one
 * environment apart). Every nginx call is an argv array with a deadline.
 */
export class NginxFrontProxy {
  private readonly nginx: string;
  private readonly commandTimeoutMs: number;
  private readonly reloadTimeoutMs: number;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: NginxFrontProxyOptions) {
    this.nginx = opts.nginx ?? 'nginx';
    this.commandTimeoutMs = opts.commandTimeoutMs ?? 15_000;
    this.reloadTimeoutMs = opts.reloadTimeoutMs ?? 40_000;
  }

  get dir(): string {
    return this.opts.dir;
  }

  /** The route nginx was last given for (service, environment), or null when there is none. */
  async current(service: string, environment: string): Promise<Route | null> {
    const text = await readFile(this.sitePath(service, environment), 'utf8').catch(() => null);
    return text === null ? null : parseSite(service, environment, text);
  }

  /**
   * Makes nginx serve `route`: the site file is replaced atomically (written beside, checked alone
   * with `nginx -t`, renamed over the old one, the whole config checked again), then nginx reloads,
   * and this resolves once the new workers serve and the old ones are gone. A config nginx refuses,
   * or a reload that does not take (a port another process holds), puts the previous file back and
   * throws a FrontProxyError with nginx's words; the previous route keeps serving. Idempotent: the
   * same route again changes nothing and reloads nothing.
   */
  setRoute(route: Route, onLog: (line: string) => void = () => undefined): Promise<void> {
    return this.serialized(async () => {
      const text = renderSite(route);
      const file = this.sitePath(route.service, route.environment);
      const before = await readFile(file, 'utf8').catch(() => null);
      if (before === text) return;
      await this.replace(file, text, before);
      onLog(`front proxy ${route.listen.host}:${route.listen.port}: ${describeRoute(route)}`);
    });
  }

  /** Stops serving (service, environment): its site file goes and nginx reloads. Nothing to remove is fine. */
  removeRoute(service: string, environment: string): Promise<void> {
    return this.serialized(async () => {
      const file = this.sitePath(service, environment);
      const before = await readFile(file, 'utf8').catch(() => null);
      if (before === null) return;
      await rm(file, { force: true });
      await this.reload().catch(async (err: unknown) => {
        await writeFile(file, before);
        throw err;
      });
    });
  }

  private async replace(file: string, text: string, before: string | null): Promise<void> {
    const candidate = `${file}.${randomBytes(4).toString('hex')}.next`;
    const check = path.join(this.opts.dir, `check-${randomBytes(4).toString('hex')}.conf`);
    try {
      await writeFile(candidate, text, { mode: 0o644 });
      // The file alone first, so a bad file never sits under sites/ (where the live config reads it).
      await writeFile(check, `pid ${check}.pid;\nevents {}\nhttp {\n  include ${candidate};\n}\n`);
      await this.test(check);
      await rename(candidate, file);
    } finally {
      await rm(candidate, { force: true });
      await rm(check, { force: true });
    }
    const restore = async (): Promise<void> => {
      if (before === null) await rm(file, { force: true });
      else await writeFile(file, before);
    };
    try {
      // With every other site: two sites on one address would only show up here.
      await this.test(path.join(this.opts.dir, 'nginx.conf'));
      await this.reload();
    } catch (err) {
      await restore();
      throw err;
    }
  }

  private async test(conf: string): Promise<void> {
    const r = await run(this.nginx, ['-t', '-q', '-e', 'stderr', '-c', conf], this.commandTimeoutMs);
    if (r.code !== 0) throw new FrontProxyError(`nginx refused the front proxy's config: ${lastLines(r.output, 5)}`);
  }

  /** `nginx -s reload`, then waits until the new workers serve and the old ones have exited. */
  private async reload(): Promise<void> {
    const master = await this.masterPid();
    const old = await childrenOf(master);
    const logFile = path.join(this.opts.dir, 'logs', 'error.log');
    const logStart = await stat(logFile).then(
      (st) => st.size,
      () => 0,
    );
    const r = await run(this.nginx, ['-s', 'reload', '-e', 'stderr', '-c', path.join(this.opts.dir, 'nginx.conf')], this.commandTimeoutMs);
    if (r.code !== 0) throw new FrontProxyError(`nginx -s reload failed: ${lastLines(r.output, 5)}`);
    const deadline = Date.now() + this.reloadTimeoutMs;
    let fresh: number[] = [];
    let left: number[] = old;
    while (Date.now() < deadline) {
      const now = await childrenOf(master);
      fresh = now.filter((p) => !old.includes(p));
      left = now.filter((p) => old.includes(p));
      if (fresh.length > 0 && left.length === 0) return;
      if (fresh.length === 0) {
        // The master keeps its old config when the new one fails to load (a port another process holds): its log says why.
        const emerg = (await readFrom(logFile, logStart)).split('\n').filter((l) => l.includes('[emerg]'));
        // A taken port is retried for ~2.5 s before the master gives up with "still could not bind()";
        // waiting for that line keeps its late lines out of the next reload's log.
        const settled = !emerg.some((l) => l.includes('bind()')) || emerg.some((l) => l.includes('still could not bind()'));
        if (emerg.length > 0 && settled) throw new FrontProxyError(`nginx did not take the new config: ${emerg.slice(-2).join(' | ')}`);
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    if (fresh.length === 0) {
      throw new FrontProxyError(`nginx did not take the new config within ${this.reloadTimeoutMs}ms: ${await this.errorLogTail()}`);
    }
    throw new FrontProxyError(`nginx's old workers (${left.join(', ')}) still serve ${this.reloadTimeoutMs}ms after the reload`);
  }

  private async masterPid(): Promise<number> {
    const pidFile = path.join(this.opts.dir, 'nginx.pid');
    const text = await readFile(pidFile, 'utf8').catch(() => '');
    const pid = Number(text.trim());
    const alive = Number.isInteger(pid) && pid > 0 && (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).includes('nginx');
    if (!alive) {
      throw new FrontProxyError(`the front proxy is not running (no nginx master in ${pidFile}): start it with .ci/services.sh start nginx`);
    }
    return pid;
  }

  private async errorLogTail(): Promise<string> {
    const text = await readFile(path.join(this.opts.dir, 'logs', 'error.log'), 'utf8').catch(() => '');
    return lastLines(text, 3) || 'nothing in its error log';
  }

  private sitePath(service: string, environment: string): string {
    return path.join(this.opts.dir, 'sites', siteFileName(service, environment));
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}

/** "stable 127.0.0.1:9100 90%, canary 127.0.0.1:9101 10%". */
export function describeRoute(route: Route): string {
  return route.backends.map((b) => `${b.role} ${b.host}:${b.port} ${b.weight}%`).join(', ');
}

/** The worker processes of an nginx master (Linux: /proc). */
async function childrenOf(master: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === master) pids.push(Number(entry));
  }
  return pids;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      if (!err) return resolve({ code: 0, output });
      const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
      if (e.killed) return resolve({ code: -1, output: `${cmd} ${args.join(' ')} did not finish within ${timeoutMs}ms` });
      if (e.code === 'ENOENT') return resolve({ code: -1, output: `${cmd} is not installed (Debian: apt-get install nginx)` });
      resolve({ code: typeof e.code === 'number' ? e.code : -1, output: output || e.message });
    });
  });
}

/** What was appended to `file` after byte `offset` (at most 64 KiB of it). */
async function readFrom(file: string, offset: number): Promise<string> {
  const handle = await open(file, 'r').catch(() => null);
  if (!handle) return '';
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, offset);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

function lastLines(text: string, n: number): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}
