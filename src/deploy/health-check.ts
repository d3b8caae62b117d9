import type Dockerode from 'dockerode';
import { withTimeout } from '../executors/with-timeout.js';

export type HealthVerdict = { healthy: true } | { healthy: false; reason: string; exited: boolean };

const POLL_MS = 250;
const REQUEST_TIMEOUT_MS = 2_000;

/**
 * Polls GET url until it answers 2xx or the deadline passes. Between polls
 * the container is inspected, so a release that crashes fails at once with
 * its exit code instead of after the whole timeout.
 */
export async function waitHealthy(container: Dockerode.Container, url: string, timeoutMs: number): Promise<HealthVerdict> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const info = await withTimeout(container.inspect(), 10_000, 'inspect release container');
    const state = info.State;
    if (state.Status === 'exited' || state.Status === 'dead' || state.Restarting || info.RestartCount > 0) {
      return { healthy: false, exited: true, reason: `container exited with code ${state.ExitCode}` };
    }
    const remaining = deadline - Date.now();
    last = await probe(url, Math.max(1, Math.min(REQUEST_TIMEOUT_MS, remaining)));
    if (last === 'ok') return { healthy: true };
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
