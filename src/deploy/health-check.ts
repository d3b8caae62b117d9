import type Dockerode from 'dockerode';
import { withTimeout } from '../executors/with-timeout.js';

export type HealthVerdict = { healthy: true } | { healthy: false; reason: string; exited: boolean };

/** Why a release is not running any more, or undefined while it runs. */
export type ExitCheck = () => Promise<string | undefined>;

const POLL_MS = 250;
const REQUEST_TIMEOUT_MS = 2_000;
/** Every probe gets at least this long, even past the deadline: on a loaded engine the inspect
 * between probes can eat the last of the budget, and a 1 ms probe would replace the real
 * answer ("answered HTTP 404") with a meaningless "no answer". */
const MIN_PROBE_MS = 500;

/**
 * Polls GET url until it answers 2xx or the deadline passes. Between polls
 * the container is inspected, so a release that crashes fails at once with
 * its exit code instead of after the whole timeout.
 */
export function waitHealthy(container: Dockerode.Container, url: string, timeoutMs: number): Promise<HealthVerdict> {
  return pollHealth(url, timeoutMs, async () => {
    const info = await withTimeout(container.inspect(), 10_000, 'inspect release container');
    const state = info.State;
    const gone = state.Status === 'exited' || state.Status === 'dead' || state.Restarting || info.RestartCount > 0;
    return gone ? `container exited with code ${state.ExitCode}` : undefined;
  });
}

export async function pollHealth(url: string, timeoutMs: number, exitCheck: ExitCheck): Promise<HealthVerdict> {
  const deadline = Date.now() + timeoutMs;
  let last: string | undefined;
  for (;;) {
    const exited = await exitCheck();
    if (exited) return { healthy: false, exited: true, reason: exited };
    const remaining = deadline - Date.now();
    // Past the deadline with an answer in hand: that answer is the reason, no late probe.
    if (remaining > 0 || last === undefined) {
      last = await probe(url, Math.max(MIN_PROBE_MS, Math.min(REQUEST_TIMEOUT_MS, remaining)));
      if (last === 'ok') return { healthy: true };
    }
    if (Date.now() + POLL_MS >= deadline) {
      return { healthy: false, exited: false, reason: `health check GET ${url} did not pass within ${timeoutMs}ms: ${last}` };
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** 'ok' or why not, in words for the run record. */
export async function probe(url: string, timeoutMs: number): Promise<string> {
  try {
    const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status >= 200 && res.status < 300 ? 'ok' : `answered HTTP ${res.status}`;
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if (code === 'ECONNREFUSED') return 'connection refused';
    if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs}ms`;
    return err instanceof Error ? (code ? `${code}` : err.message) : String(err);
  }
}
