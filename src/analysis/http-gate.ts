import { setTimeout as sleep } from 'node:timers/promises';

/**
 * The HTTP gate: a URL that says pass or fail (a smoke test, a change ticket). A 2xx answer passes,
 * unless its body is JSON `{"pass": false, "reason": "..."}`; any other status fails with the status
 * and the start of the body. A connection error or a timeout is retried (bounded, with backoff) and
 * then is an error: no verdict was given.
 */
export type GateAnswer = { verdict: 'pass' | 'fail'; detail: string } | { verdict: 'error'; detail: string };

export interface GateRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  signal?: AbortSignal;
}

const EXCERPT = 200;
const MAX_BODY = 64 * 1024;

/** The URL as logs may show it: no credentials, no query string (it may carry a token). */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(not a URL)';
  }
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > EXCERPT ? `${flat.slice(0, EXCERPT)}…` : flat;
}

async function readCapped(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < MAX_BODY) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  await reader.cancel().catch(() => undefined);
  return Buffer.concat(chunks).toString('utf8').slice(0, MAX_BODY);
}

function judge(status: number, body: string): GateAnswer {
  if (status < 200 || status > 299) return { verdict: 'fail', detail: `HTTP ${status}${body.trim() ? `: ${excerpt(body)}` : ''}` };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { verdict: 'pass', detail: `HTTP ${status}` };
  }
  if (json !== null && typeof json === 'object' && 'pass' in json && typeof json.pass === 'boolean') {
    const reason = 'reason' in json && typeof json.reason === 'string' ? `: ${excerpt(json.reason)}` : '';
    return { verdict: json.pass ? 'pass' : 'fail', detail: `HTTP ${status}, pass ${json.pass}${reason}` };
  }
  return { verdict: 'pass', detail: `HTTP ${status}` };
}

export async function askGate(req: GateRequest): Promise<GateAnswer> {
  let lastError = '';
  for (let attempt = 0; attempt <= req.retries; attempt++) {
    if (attempt > 0) await sleep(req.backoffMs * 2 ** (attempt - 1), undefined, req.signal ? { signal: req.signal } : {});
    const timeout = AbortSignal.timeout(req.timeoutMs);
    try {
      const res = await fetch(req.url, {
        method: req.method,
        headers: req.headers,
        redirect: 'manual',
        signal: req.signal ? AbortSignal.any([timeout, req.signal]) : timeout,
      });
      return judge(res.status, await readCapped(res));
    } catch (err) {
      if (req.signal?.aborted) throw err;
      lastError =
        timeout.aborted || (err instanceof Error && err.name === 'TimeoutError')
          ? `no answer within ${req.timeoutMs} ms`
          : err instanceof Error && err.cause instanceof Error
            ? err.cause.message
            : String(err);
    }
  }
  return { verdict: 'error', detail: `${lastError} (after ${req.retries + 1} attempts)` };
}
