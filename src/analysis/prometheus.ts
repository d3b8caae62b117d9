import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';

/**
 * An instant query through Prometheus's HTTP API, `GET /api/v1/query?query=…`
 * (https://prometheus.io/docs/prometheus/latest/querying/api/#instant-queries). Every call has a
 * timeout; a connection error, a timeout, 429 or 5xx is retried a bounded number of times with
 * backoff. 400 and 422 (`bad_data`, `execution`) are the query's fault and are not retried.
 */
export interface PrometheusQueryOptions {
  /** Per attempt, including reading the answer. */
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  /** First backoff; doubles per retry. */
  backoffMs: number;
  signal?: AbortSignal;
}

export const DEFAULT_QUERY_OPTIONS: PrometheusQueryOptions = { timeoutMs: 10_000, retries: 2, backoffMs: 500 };

/** The query's values, one per series (a scalar is one value), in Prometheus's order. */
export interface QueryResult {
  values: number[];
}

/** The query could not be answered: `permanent` when asking again cannot help (a bad query). */
export class PrometheusError extends Error {
  override readonly name = 'PrometheusError';
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
  }
}

// The documented envelope: {status, data: {resultType, result}} or {status: "error", errorType, error}.
const sample = z.tuple([z.number(), z.string()]);
const envelope = z.object({
  status: z.enum(['success', 'error']),
  errorType: z.string().optional(),
  error: z.string().optional(),
  data: z
    .discriminatedUnion('resultType', [
      z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: sample })) }),
      z.object({ resultType: z.literal('scalar'), result: sample }),
      z.object({ resultType: z.literal('matrix'), result: z.array(z.unknown()) }),
      z.object({ resultType: z.literal('string'), result: z.unknown() }),
    ])
    .optional(),
});

/** Prometheus writes floats as strings: "0.31", "NaN", "+Inf", "-Inf". */
export function sampleValue(s: string): number {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return Number(s);
}

const MAX_BODY = 4 * 1024 * 1024;

export async function queryPrometheus(baseUrl: string, query: string, opts: PrometheusQueryOptions = DEFAULT_QUERY_OPTIONS): Promise<QueryResult> {
  const url = new URL('api/v1/query', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  url.searchParams.set('query', query);
  let last: PrometheusError | undefined;
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    if (attempt > 0) await sleep(opts.backoffMs * 2 ** (attempt - 1), undefined, opts.signal ? { signal: opts.signal } : {});
    try {
      return await once(url, opts);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      last = err instanceof PrometheusError ? err : new PrometheusError(`prometheus at ${url.origin}: ${describe(err, opts.timeoutMs)}`, false);
      if (last.permanent) throw last;
    }
  }
  throw new PrometheusError(`${last?.message ?? 'no answer'} (after ${opts.retries + 1} attempts)`, false);
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return `no answer within ${timeoutMs} ms`;
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return cause ?? (err instanceof Error ? err.message : String(err));
}

async function once(url: URL, opts: PrometheusQueryOptions): Promise<QueryResult> {
  const timeout = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
  const res = await fetch(url, { signal, headers: { accept: 'application/json' } });
  const text = await res.text();
  if (text.length > MAX_BODY) throw new PrometheusError(`prometheus at ${url.origin}: answer larger than ${MAX_BODY} bytes`, true);
  let body: z.infer<typeof envelope> | undefined;
  try {
    const parsed = envelope.safeParse(JSON.parse(text));
    if (parsed.success) body = parsed.data;
  } catch {
    /* not JSON: reported below with the status */
  }
  if (res.status === 400 || res.status === 422) {
    throw new PrometheusError(`prometheus rejected the query (${body?.errorType ?? `HTTP ${res.status}`}): ${body?.error ?? text.slice(0, 200)}`, true);
  }
  if (!res.ok || !body) {
    // 429 and 5xx may pass; any other answer (a 404 from something that is not Prometheus, a body that is not its JSON) will not.
    const what = res.ok ? "an answer that is not the query API's JSON" : `HTTP ${res.status}${body?.error ? `: ${body.error}` : ''}`;
    throw new PrometheusError(`prometheus at ${url.origin} answered ${what}`, res.ok || (res.status < 500 && res.status !== 429));
  }
  if (body.status !== 'success' || !body.data) throw new PrometheusError(`prometheus: ${body.errorType ?? 'error'}: ${body.error ?? 'no data'}`, true);
  const data = body.data;
  switch (data.resultType) {
    case 'vector':
      return { values: data.result.map((s) => sampleValue(s.value[1])) };
    case 'scalar':
      return { values: [sampleValue(data.result[1])] };
    case 'matrix':
      throw new PrometheusError('the query returns a range vector: wrap it in a function such as rate() or avg_over_time()', true);
    default:
      throw new PrometheusError('the query returns a string, not a number', true);
  }
}
