import { randomUUID } from 'node:crypto';
import type { LogLine, RunSummary } from '../runs/types.js';
import { callApi, EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, secret, type Server, type ServerFlags, serverOf, Unreachable } from './server-client.js';

// `slipway status`, `slipway logs`, `slipway run`: reading runs from, and starting them on, a Slipway server.

export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

const FINAL = new Set(['succeeded', 'failed', 'skipped', 'canceled']);
/** A run that ended like this is a failure for the exit code (a canceled run did not deliver). */
const FAILED = new Set(['failed', 'canceled']);
const POLL_MS = 1000;
/** Consecutive failed polls `logs -f` sits out before it gives up on the server. */
const MAX_POLL_FAILURES = 5;

/** Runs one command body: a usage problem exits 2, an unreachable server 3. */
export async function withServer(name: string, flags: ServerFlags, io: Io, body: (server: Server) => Promise<number>): Promise<number> {
  let server: Server;
  try {
    server = await serverOf(flags, io.env);
  } catch (e) {
    io.err(`slipway ${name}: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT_USAGE;
  }
  try {
    return await body(server);
  } catch (e) {
    if (!(e instanceof Unreachable)) throw e;
    io.err(`slipway ${name}: ${e.message}`);
    return EXIT_UNREACHABLE;
  }
}

function runLine(r: RunSummary): string {
  const req = r.request;
  return `${r.id}  ${r.status.phase.padEnd(9)}  ${req.project.path} ${req.ref}@${req.sha.slice(0, 8)} (${req.event}${req.actor ? ` by ${req.actor}` : ''})  ${r.status.reason}`;
}

export interface StatusOptions extends ServerFlags {
  json?: boolean;
  project?: string;
  ref?: string;
  limit?: string;
}

/** One run with its jobs, or the latest runs (of a project, of a ref). */
export async function statusCommand(runId: string | undefined, opts: StatusOptions, io: Io): Promise<number> {
  return withServer('status', opts, io, async (server) => {
    if (runId !== undefined) {
      const { status, body } = await callApi<RunSummary>(server, 'GET', `/api/runs/${encodeURIComponent(runId)}`);
      if (status !== 200) {
        io.err(`slipway status: ${body.error ?? `HTTP ${status}`}`);
        return status === 404 ? EXIT_FAILED : EXIT_UNREACHABLE;
      }
      if (opts.json) io.out(JSON.stringify(body));
      else {
        io.out(runLine(body));
        for (const j of body.jobs) io.out(`  ${j.name.padEnd(24)} ${j.status.phase.padEnd(8)} ${j.status.reason}`);
      }
      return FAILED.has(body.status.phase) ? EXIT_FAILED : EXIT_OK;
    }
    if (opts.project !== undefined && !/^\d+$/.test(opts.project)) {
      io.err('slipway status: --project must be a numeric GitLab project id');
      return EXIT_USAGE;
    }
    const limit = opts.limit ?? '20';
    if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 500) {
      io.err('slipway status: --limit must be a whole number from 1 to 500');
      return EXIT_USAGE;
    }
    // The API filters by project; the ref is filtered here, among the latest 500.
    const query = new URLSearchParams({ limit: opts.ref !== undefined ? '500' : limit, ...(opts.project !== undefined ? { project: opts.project } : {}) });
    const { status, body } = await callApi<{ runs: RunSummary[] }>(server, 'GET', `/api/runs?${query}`);
    if (status !== 200) {
      io.err(`slipway status: ${body.error ?? `HTTP ${status}`}`);
      return EXIT_UNREACHABLE;
    }
    const runs = body.runs.filter((r) => opts.ref === undefined || r.request.ref === opts.ref).slice(0, Number(limit));
    if (opts.json) io.out(JSON.stringify({ runs }));
    else if (runs.length === 0) io.err('no runs');
    else for (const r of runs) io.out(runLine(r));
    return EXIT_OK;
  });
}

export interface LogsOptions extends ServerFlags {
  json?: boolean;
  follow?: boolean;
  timeout?: string;
}

/**
 * Prints a run's log; with --follow, keeps reading from the last line printed (`?from=`) until the
 * run ends, showing the run's and jobs' phase changes on stderr while it waits.
 */
export async function logsCommand(runId: string, opts: LogsOptions, io: Io, interrupt?: AbortSignal): Promise<number> {
  if (interrupt === undefined) return follow(runId, opts, io, new AbortController().signal);
  // Ctrl-C answers at once, even in the middle of a request; the loop sees the signal and stops.
  const interrupted = new Promise<number>((resolve) => interrupt.addEventListener('abort', () => resolve(EXIT_INTERRUPTED), { once: true }));
  return Promise.race([follow(runId, opts, io, interrupt), interrupted]);
}

/** Interrupted (Ctrl-C): 128 + SIGINT, as shells report it. */
export const EXIT_INTERRUPTED = 130;

async function follow(runId: string, opts: LogsOptions, io: Io, interrupt: AbortSignal): Promise<number> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const timeoutS = Number(opts.timeout ?? '3600');
  if (!Number.isInteger(timeoutS) || timeoutS < 1) {
    io.err('slipway logs: --timeout must be a whole number of seconds, at least 1');
    return EXIT_USAGE;
  }
  return withServer('logs', opts, io, async (server) => {
    const path = `/api/runs/${encodeURIComponent(runId)}`;
    let from = 0;
    const printLines = async (): Promise<number | undefined> => {
      const { status, body } = await callApi<{ lines: LogLine[] }>(server, 'GET', `${path}/log?from=${from}`);
      if (status !== 200) return status;
      from += body.lines.length;
      for (const l of body.lines) io.out(opts.json ? JSON.stringify(l) : `[${l.job}] ${l.line}`);
      return undefined;
    };
    const readRun = async () => {
      const { status, body } = await callApi<RunSummary>(server, 'GET', path);
      if (status === 404) throw new NotFound(body.error ?? `run ${runId} not found`);
      if (status !== 200) throw new Unreachable(body.error ?? `HTTP ${status}`);
      return body;
    };
    try {
      const first = await readRun();
      if (!opts.follow) {
        const failed = await printLines();
        if (failed !== undefined) throw new Unreachable(`HTTP ${failed} reading the log`);
        return EXIT_OK;
      }
      const deadline = Date.now() + timeoutS * 1000;
      const seen = new Map<string, string>();
      let run: RunSummary | undefined = first;
      let failures = 0;
      for (;;) {
        if (interrupt.aborted) return EXIT_INTERRUPTED;
        try {
          if (run === undefined) run = await readRun();
          // The log before the phase: the lines of a run that just ended are all written by then.
          const final = FINAL.has(run.status.phase);
          const failed = await printLines();
          if (failed !== undefined) throw new Unreachable(`HTTP ${failed} reading the log`);
          for (const entry of [{ name: 'run', s: run.status }, ...run.jobs.map((j) => ({ name: `job ${j.name}`, s: j.status }))]) {
            const key = `${entry.s.phase}: ${entry.s.reason}`;
            if (seen.get(entry.name) !== key) io.err(`${entry.name === 'run' ? `run ${run.id}` : entry.name}: ${key}`);
            seen.set(entry.name, key);
          }
          if (final) {
            if (opts.json) io.out(JSON.stringify({ run: run.id, status: run.status }));
            return FAILED.has(run.status.phase) ? EXIT_FAILED : EXIT_OK;
          }
          failures = 0;
        } catch (e) {
          if (!(e instanceof Unreachable) || ++failures >= MAX_POLL_FAILURES) throw e;
          io.err(`slipway logs: ${e.message} (retrying, ${failures} of ${MAX_POLL_FAILURES})`);
        }
        if (Date.now() > deadline) {
          io.err(`slipway logs: run ${runId} did not end within ${timeoutS}s (--timeout)`);
          return EXIT_TIMEOUT;
        }
        run = undefined;
        await sleep(POLL_MS);
      }
    } catch (e) {
      if (!(e instanceof NotFound)) throw e;
      io.err(`slipway logs: ${e.message}`);
      return EXIT_FAILED;
    }
  });
}

/** `logs -f` still waiting at its --timeout. */
export const EXIT_TIMEOUT = 4;

class NotFound extends Error {}

export interface StartOptions extends ServerFlags {
  json?: boolean;
  project: string;
  ref: string;
  gitlabTokenFile?: string;
}

/** Starts a pipeline for the head of a branch (POST /api/runs), as GitLab's "Run pipeline". */
export async function runCommand(opts: StartOptions, io: Io): Promise<number> {
  if (!/^\d+$/.test(opts.project)) {
    io.err('slipway run: --project must be a numeric GitLab project id');
    return EXIT_USAGE;
  }
  let gitlabToken: string | undefined;
  if (opts.gitlabTokenFile !== undefined || io.env['SLIPWAY_GITLAB_TOKEN']?.trim()) {
    try {
      gitlabToken = await secret(opts.gitlabTokenFile, io.env['SLIPWAY_GITLAB_TOKEN'], '--gitlab-token-file', 'SLIPWAY_GITLAB_TOKEN', 'your GitLab token');
    } catch (e) {
      io.err(`slipway run: ${e instanceof Error ? e.message : String(e)}`);
      return EXIT_USAGE;
    }
  }
  return withServer('run', opts, io, async (server) => {
    const { status, body } = await callApi<{ runId?: string; sha?: string; actor?: string; duplicate?: boolean }>(server, 'POST', '/api/runs', {
      body: { project: Number(opts.project), ref: opts.ref },
      headers: { 'Idempotency-Key': randomUUID(), ...(gitlabToken !== undefined ? { 'X-Gitlab-Approver-Token': gitlabToken } : {}) },
    });
    if (opts.json) io.out(JSON.stringify({ status, ...body }));
    if (status === 201 || status === 200) {
      if (!opts.json) io.out(`started run ${body.runId} for ${opts.ref}@${(body.sha ?? '').slice(0, 8)}${body.actor ? ` (asked by ${body.actor})` : ''}`);
      return EXIT_OK;
    }
    if (!opts.json) io.err(`slipway run: ${body.error ?? `HTTP ${status}`}`);
    if (status === 400 || status === 403 || status === 404) return EXIT_FAILED;
    return EXIT_UNREACHABLE;
  });
}
