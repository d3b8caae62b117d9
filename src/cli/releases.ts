import { callApi, EXIT_FAILED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, type ServerFlags, Unreachable } from './server-client.js';
import { EXIT_TIMEOUT, type Io, withServer } from './runs.js';

// `slipway rollback`, `slipway resume`, `slipway releases`: an environment's release history on a Slipway server.

/** A release as the API shows it (src/releases/types.ts; the CLI reads only these fields). */
interface Release {
  id: number;
  kind: string;
  runId: string;
  sha: string;
  image: string;
  digest: string | null;
  configRevision: string | null;
  url: string | null;
  by: string;
  at: string;
  reason: string;
  outcome: 'pending' | 'live' | 'rolled-back' | 'failed';
  detail: string;
  rollbackTo: number | null;
  log: string[];
  poll: string;
}

interface Pause {
  by: string;
  at: string;
  reason: string;
  rollback: number;
  release: number;
}

const POLL_MS = 1000;
const MAX_POLL_FAILURES = 5;
const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface RollbackOptions extends ServerFlags {
  to?: string;
  reason?: string;
  user?: string;
  wait?: boolean;
  timeout?: string;
  json?: boolean;
}

export interface ResumeOptions extends ServerFlags {
  user?: string;
  reason?: string;
  json?: boolean;
}

export interface ReleasesOptions extends ServerFlags {
  limit?: string;
  json?: boolean;
}

const envPath = (service: string, environment: string) => `/api/services/${encodeURIComponent(service)}/environments/${encodeURIComponent(environment)}`;

/** Usage problems of the service and environment arguments, or null. */
function badNames(service: string, environment: string): string | null {
  if (!NAME.test(service)) return `service ${JSON.stringify(service)} is not a name (lowercase letters, digits and -)`;
  if (!NAME.test(environment)) return `environment ${JSON.stringify(environment)} is not a name (lowercase letters, digits and -)`;
  return null;
}

/** --user, else SLIPWAY_USER; none: the server records "api". */
function userOf(opts: { user?: string }, env: NodeJS.ProcessEnv): string | undefined {
  return opts.user ?? (env['SLIPWAY_USER']?.trim() || undefined);
}

/**
 * Asks for a rollback, then (unless --no-wait) follows it until its verdict, printing its progress
 * on stderr. Automatic deploys to the environment stay paused until `slipway resume`.
 */
export async function rollbackCommand(service: string, environment: string, opts: RollbackOptions, io: Io): Promise<number> {
  const problem = badNames(service, environment);
  const timeoutS = Number(opts.timeout ?? '900');
  const usage = (line: string) => {
    io.err(`slipway rollback: ${line}`);
    return EXIT_USAGE;
  };
  if (problem) return usage(problem);
  if (opts.to !== undefined && !/^[1-9]\d*$/.test(opts.to)) return usage('--to must be a release id (1, 2, 3…; see slipway releases)');
  if (!opts.reason?.trim()) return usage('--reason is required: say why (it is recorded, and shown to whoever resumes)');
  if (!Number.isInteger(timeoutS) || timeoutS < 1) return usage('--timeout must be a whole number of seconds, at least 1');
  const user = userOf(opts, io.env);
  return withServer('rollback', opts, io, async (server) => {
    const { status, body } = await callApi<{ rollback?: Release; target?: Release; paused?: Pause }>(
      server,
      'POST',
      `${envPath(service, environment)}/rollback`,
      {
        body: { reason: opts.reason, ...(opts.to !== undefined ? { release: Number(opts.to) } : {}), ...(user !== undefined ? { user } : {}) },
        headers: { 'X-Slipway-Source': 'cli' },
      },
    );
    if (status !== 202 || !body.rollback) {
      if (opts.json) io.out(JSON.stringify({ status, ...body }));
      else io.err(`slipway rollback: ${body.error ?? `HTTP ${status}`}`);
      return status === 400 || status === 404 || status === 409 ? EXIT_FAILED : EXIT_UNREACHABLE;
    }
    const asked = body.rollback;
    io.err(
      `rollback ${asked.id}: re-applying release ${asked.rollbackTo ?? '?'} of ${service}/${environment} (run ${asked.runId}, ${asked.image}); automatic deploys to ${environment} are paused`,
    );
    if (opts.wait === false) {
      if (opts.json) io.out(JSON.stringify(asked));
      else io.out(`rollback ${asked.id} queued: follow it with slipway releases ${service} ${environment}`);
      return EXIT_OK;
    }
    const deadline = Date.now() + timeoutS * 1000;
    let printed = 0;
    let lastDetail = asked.detail;
    let failures = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      let now: Release;
      try {
        const res = await callApi<Release>(server, 'GET', asked.poll);
        if (res.status !== 200) throw new Unreachable(res.body.error ?? `HTTP ${res.status}`);
        now = res.body;
        failures = 0;
      } catch (e) {
        if (!(e instanceof Unreachable) || ++failures >= MAX_POLL_FAILURES) throw e;
        io.err(`slipway rollback: ${e.message} (retrying, ${failures} of ${MAX_POLL_FAILURES})`);
        continue;
      }
      for (const line of now.log.slice(printed)) io.err(`  ${line}`);
      printed = now.log.length;
      if (now.detail !== lastDetail && now.outcome === 'pending') io.err(`rollback ${now.id}: ${now.detail}`);
      lastDetail = now.detail;
      if (now.outcome !== 'pending') {
        if (opts.json) io.out(JSON.stringify(now));
        else if (now.outcome === 'live') {
          io.out(`rolled back ${service}/${environment} to release ${now.rollbackTo ?? '?'} (run ${now.runId}): ${now.detail}`);
          io.out(`automatic deploys to ${environment} stay paused: resume them with slipway resume ${service} ${environment}`);
        } else io.err(`slipway rollback: rollback ${now.id} ${now.outcome}: ${now.detail}`);
        return now.outcome === 'live' ? EXIT_OK : EXIT_FAILED;
      }
      if (Date.now() > deadline) {
        io.err(`slipway rollback: rollback ${now.id} is still going after ${timeoutS}s (--timeout): ${now.detail}`);
        return EXIT_TIMEOUT;
      }
    }
  });
}

/** Ends the pause a rollback set: the environment's deploys run again (a waiting one goes on). */
export async function resumeCommand(service: string, environment: string, opts: ResumeOptions, io: Io): Promise<number> {
  const problem = badNames(service, environment);
  if (problem) {
    io.err(`slipway resume: ${problem}`);
    return EXIT_USAGE;
  }
  const user = userOf(opts, io.env);
  return withServer('resume', opts, io, async (server) => {
    const { status, body } = await callApi<{ message?: string; resumed?: Pause | null }>(server, 'POST', `${envPath(service, environment)}/resume`, {
      body: { ...(user !== undefined ? { user } : {}), ...(opts.reason !== undefined ? { reason: opts.reason } : {}) },
      headers: { 'X-Slipway-Source': 'cli' },
    });
    if (opts.json) io.out(JSON.stringify({ status, ...body }));
    if (status === 200) {
      if (!opts.json) io.out(body.message ?? 'resumed');
      return EXIT_OK;
    }
    if (!opts.json) io.err(`slipway resume: ${body.error ?? `HTTP ${status}`}`);
    return status === 400 || status === 404 ? EXIT_FAILED : EXIT_UNREACHABLE;
  });
}

/** The release history of one environment, newest first; `*` marks the live release. */
export async function releasesCommand(service: string, environment: string, opts: ReleasesOptions, io: Io): Promise<number> {
  const problem = badNames(service, environment);
  const limit = opts.limit ?? '20';
  if (problem || !/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > 50) {
    io.err(`slipway releases: ${problem ?? '--limit must be a whole number from 1 to 50'}`);
    return EXIT_USAGE;
  }
  return withServer('releases', opts, io, async (server) => {
    const { status, body } = await callApi<{ live: number | null; paused: Pause | null; releases: Release[] }>(
      server,
      'GET',
      `${envPath(service, environment)}/releases?limit=${limit}`,
    );
    if (status !== 200) {
      if (opts.json) io.out(JSON.stringify({ status, ...body }));
      else io.err(`slipway releases: ${body.error ?? `HTTP ${status}`}`);
      return status === 400 || status === 404 ? EXIT_FAILED : EXIT_UNREACHABLE;
    }
    if (opts.json) {
      io.out(JSON.stringify(body));
      return EXIT_OK;
    }
    if (body.paused) {
      const p = body.paused;
      io.out(
        `automatic deploys are paused since the rollback to release ${p.release} by ${p.by} at ${p.at} (${p.reason}); resume with slipway resume ${service} ${environment}`,
      );
    }
    const rows = body.releases.map((r) => [
      `${r.id === body.live ? '*' : ' '}${r.id}`,
      r.kind + (r.rollbackTo !== null ? ` to ${r.rollbackTo}` : ''),
      r.outcome,
      r.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      r.by,
      r.runId,
      r.sha.slice(0, 8),
      r.digest ? r.digest.slice(0, 19) : r.image,
      r.reason,
    ]);
    const header = ['ID', 'KIND', 'OUTCOME', 'AT', 'BY', 'RUN', 'COMMIT', 'IMAGE', 'WHY'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    for (const row of [header, ...rows]) io.out(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  '));
    return EXIT_OK;
  });
}
