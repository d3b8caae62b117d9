import { createRequesterFn } from '@gitbeaker/requester-utils';
import type { FormattedResponse, RequesterType, ResourceOptions, ResponseBodyTypes } from '@gitbeaker/requester-utils';
import { AttemptFailure } from './errors.js';
import { parseRetryAfter } from './retry.js';

// gitbeaker 43's own request handler retries 429 and 502 ten times within ~0.3 s, ignores
// Retry-After, and reports the final status only inside a message string. So it is replaced: this
// handler makes exactly one attempt, bounded by a timeout, and throws an AttemptFailure with the
// status; retries live in retry.ts, around whole operations.

export type RequesterFn = (resourceOptions: ResourceOptions) => RequesterType;

export function createRequester(timeoutMs: number, fetchImpl: typeof fetch = fetch): RequesterFn {
  return createRequesterFn(
    (_resource, requestOptions) => Promise.resolve(requestOptions),
    (endpoint, options) => requestOnce(endpoint, options ?? {}, timeoutMs, fetchImpl),
  );
}

async function requestOnce(endpoint: string, options: Record<string, unknown>, timeoutMs: number, fetchImpl: typeof fetch): Promise<FormattedResponse> {
  const prefix = typeof options['prefixUrl'] === 'string' ? options['prefixUrl'] : '';
  const url = new URL(endpoint, prefix.endsWith('/') ? prefix : `${prefix}/`);
  url.search = typeof options['searchParams'] === 'string' ? options['searchParams'] : '';
  const timeout = AbortSignal.timeout(timeoutMs);
  const outer = options['signal'] instanceof AbortSignal ? options['signal'] : undefined;
  const init: RequestInit = {
    method: typeof options['method'] === 'string' ? options['method'] : 'GET',
    headers: (options['headers'] as Record<string, string> | undefined) ?? {},
    signal: outer ? AbortSignal.any([outer, timeout]) : timeout,
  };
  const body = options['body'];
  if (typeof body === 'string' || body instanceof FormData) init.body = body;

  try {
    const response = await fetchImpl(url, init);
    if (!response.ok) {
      const text = await response.text();
      throw new AttemptFailure(
        'http',
        response.status,
        describe(response.headers.get('content-type'), text),
        parseRetryAfter(response.headers.get('retry-after'), Date.now()),
      );
    }
    const headers = Object.fromEntries(response.headers.entries());
    const parsed = response.status === 204 ? null : await readBody(response);
    return { body: parsed, headers, status: response.status };
  } catch (err) {
    if (err instanceof AttemptFailure) throw err;
    // The timeout also covers reading the body, so it can fire after the headers arrived.
    if (timeout.aborted) throw new AttemptFailure('timeout', null, `no answer within ${timeoutMs} ms`, null, err);
    const msg = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
    throw new AttemptFailure('network', null, msg, null, err);
  }
}

// Same content-type rules as gitbeaker's own handler, so resource methods see the bodies they expect.
async function readBody(response: Response): Promise<ResponseBodyTypes> {
  const type = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
  if (type === 'application/json') return ((await response.json()) as ResponseBodyTypes) ?? {};
  if (type.startsWith('text/')) return response.text();
  return response.blob();
}

// GitLab puts the reason in `message` (application errors) or `error` (parameter validation).
function describe(contentType: string | null, text: string): string {
  if (contentType?.includes('application/json')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === 'object') {
        const o = parsed as Record<string, unknown>;
        const reason = o['message'] ?? o['error'];
        if (typeof reason === 'string') return reason;
        if (reason !== undefined) return JSON.stringify(reason);
      }
    } catch {
      // not JSON after all: fall through to the raw text
    }
  }
  return text.trim().slice(0, 200);
}
