import { setTimeout as sleep } from 'node:timers/promises';
import { evaluateCondition, Inconclusive, parseCondition, type Condition } from './condition.js';
import { askGate, shownUrl } from './http-gate.js';
import { DEFAULT_QUERY_OPTIONS, PrometheusError, queryPrometheus, type PrometheusQueryOptions } from './prometheus.js';
import { QueryVariableError, substituteHeader, substituteQuery, substituteUrl } from './promql-vars.js';
import type { AnalysisMetric, AnalysisResult, AnalysisTemplate, Measurement, MeasurementPhase } from './types.js';

export interface AnalysisOptions {
  /** Prometheus's base URL for metrics without their own `address` (SLIPWAY_PROMETHEUS_URL). */
  prometheusUrl?: string | undefined;
  /** Per Prometheus or HTTP-gate call: timeout, bounded retries, backoff. */
  calls?: PrometheusQueryOptions;
  /** Substituted into queries (as PromQL strings) and gate URLs (URL-encoded): the run's predefined and the environment's variables. */
  vars: Readonly<Record<string, string>>;
  /** Project variables: only HTTP gate headers may name them, and they are never logged. */
  secrets?: Readonly<Record<string, string>>;
  onLog: (line: string) => void;
  signal?: AbortSignal;
  /** The clock measurements are stamped with (tests pin it). */
  now?: () => Date;
}

const SHOWN_QUERY = 120;

/** How long an analysis can take at most, so a deploy's environment lock outlives it. */
export function analysisBoundMs(templates: readonly AnalysisTemplate[], calls: PrometheusQueryOptions = DEFAULT_QUERY_OPTIONS): number {
  const perCall = calls.timeoutMs * (calls.retries + 1) + calls.backoffMs * (2 ** calls.retries - 1);
  let max = 0;
  for (const m of templates.flatMap((t) => t.metrics)) {
    const timeout = 'http' in m.provider ? Math.max(calls.timeoutMs, m.provider.http.timeoutMs) : calls.timeoutMs;
    const call = perCall - calls.timeoutMs * (calls.retries + 1) + timeout * (calls.retries + 1);
    max = Math.max(max, m.initialDelayMs + (m.count - 1) * m.intervalMs + m.count * call);
  }
  return max;
}

/** "error-rate", or "error-rate/p99" when the metric's name differs from its template's. */
function label(template: string, metric: string): string {
  return template === metric ? template : `${template}/${metric}`;
}

export function shortQuery(query: string): string {
  const flat = query.replace(/\s+/g, ' ').trim();
  return flat.length > SHOWN_QUERY ? `${flat.slice(0, SHOWN_QUERY)}…` : flat;
}

function shownValue(values: readonly number[]): string {
  const one = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(Number(v.toPrecision(6))));
  if (values.length === 0) return 'no series';
  return values.length === 1 ? one(values[0]!) : `[${values.map(one).join(', ')}]`;
}

/** What the metric needs to pass, in words the reason can end with. */
function needsOf(m: AnalysisMetric): string {
  if ('http' in m.provider) return 'a 2xx answer (or {"pass": true})';
  const { successCondition: s, failureCondition: f } = m;
  if (s && f) return `${s} and not ${f}`;
  if (s) return s;
  if (f) return `not (${f})`;
  return 'any value';
}

interface Taken {
  measurement: Measurement;
  /** An error asking again cannot fix (a bad query, a missing variable, no Prometheus address). */
  permanent?: boolean;
}

class Canceled extends Error {
  override readonly name = 'Canceled';
}

/**
 * Runs an analysis: every metric of every template, in parallel, each `count` times. Passes when
 * every metric passed; fails at the first metric that fails (the others are stopped), with a reason
 * that names the template and metric, the query or URL, the value seen, when, and what it needed:
 * `analysis error-rate failed 2 of 2 measurements (limit 1): sum(rate(…)) = 0.31 at
 * 2026-11-29T18:30:05.000Z, needs result[0] < 0.05`. Never rejects: a canceled analysis fails.
 */
export async function runAnalysis(spec: AnalysisTemplate | readonly AnalysisTemplate[], opts: AnalysisOptions): Promise<AnalysisResult> {
  const templates = Array.isArray(spec) ? (spec as readonly AnalysisTemplate[]) : [spec as AnalysisTemplate];
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const measurements: Measurement[] = [];
  let failure: string | undefined;
  await Promise.all(
    templates.flatMap((t) =>
      t.metrics.map(async (m) => {
        const reason = await runMetric(t.name, m, { ...opts, signal }, measurements).catch((err: unknown) => {
          if (err instanceof Canceled || signal.aborted) return `analysis ${label(t.name, m.name)} was stopped${opts.signal?.aborted ? ' (canceled)' : ''}`;
          throw err;
        });
        if (reason !== null && failure === undefined) {
          failure = reason;
          stop.abort();
        }
      }),
    ),
  );
  if (opts.signal?.aborted && failure === undefined) failure = 'analysis canceled';
  return failure === undefined ? { passed: true, measurements } : { passed: false, reason: failure, measurements };
}

/** Resolves with null when the metric passed, else the reason it failed. */
async function runMetric(template: string, m: AnalysisMetric, opts: AnalysisOptions & { signal: AbortSignal }, all: Measurement[]): Promise<string | null> {
  const name = label(template, m.name);
  const wait = async (ms: number) => {
    if (ms <= 0) return;
    try {
      await sleep(ms, undefined, { signal: opts.signal });
    } catch {
      throw new Canceled();
    }
  };
  let conditions: { success: Condition | undefined; failure: Condition | undefined };
  try {
    conditions = {
      success: m.successCondition !== undefined ? parseCondition(m.successCondition) : undefined,
      failure: m.failureCondition !== undefined ? parseCondition(m.failureCondition) : undefined,
    };
  } catch (err) {
    // The pipeline file's validation parses them first; a plan recorded by an older version might not have been.
    return `analysis ${name}: bad condition: ${err instanceof Error ? err.message : String(err)}`;
  }
  opts.onLog(
    `analysis ${name}: ${m.count} measurement${m.count === 1 ? '' : 's'}${m.count > 1 ? ` ${m.intervalMs / 1000} s apart` : ''}${m.initialDelayMs > 0 ? ` after ${m.initialDelayMs / 1000} s` : ''}, needs ${needsOf(m)} (failure limit ${m.failureLimit}, inconclusive limit ${m.inconclusiveLimit})`,
  );
  await wait(m.initialDelayMs);
  const counts: Record<MeasurementPhase, number> = { successful: 0, failed: 0, inconclusive: 0, error: 0 };
  let inARow = 0;
  let last: Measurement | undefined;
  for (let i = 0; i < m.count; i++) {
    if (i > 0) await wait(m.intervalMs);
    if (opts.signal.aborted) throw new Canceled();
    const taken = await measure(template, m, conditions, opts);
    const x = taken.measurement;
    all.push(x);
    last = x;
    counts[x.phase]++;
    inARow = x.phase === 'error' ? inARow + 1 : 0;
    opts.onLog(`analysis ${name}: measurement ${i + 1}/${m.count} ${x.phase}: ${x.subject} = ${x.value} at ${x.at}, needs ${x.needs}`);
    const taken_ = i + 1;
    const seen = `${x.subject} = ${x.value} at ${x.at}, needs ${x.needs}`;
    if (counts.failed > m.failureLimit) return `analysis ${name} failed ${counts.failed} of ${taken_} measurements (limit ${m.failureLimit}): ${seen}`;
    if (counts.inconclusive > m.inconclusiveLimit) {
      return `analysis ${name} was inconclusive ${counts.inconclusive} of ${taken_} measurements (limit ${m.inconclusiveLimit}): ${seen}`;
    }
    if (taken.permanent) return `analysis ${name} cannot measure: ${x.subject}: ${x.value}`;
    if (inARow > m.consecutiveErrorLimit) {
      return `analysis ${name} could not measure ${inARow} times in a row (limit ${m.consecutiveErrorLimit}): ${x.subject}: ${x.value} at ${x.at}`;
    }
  }
  if (counts.successful + counts.failed + counts.inconclusive === 0) {
    return `analysis ${name} took no measurement in ${m.count} tries: ${last ? `${last.subject}: ${last.value} at ${last.at}` : 'none was taken'}`;
  }
  opts.onLog(
    `analysis ${name} passed: ${counts.successful} successful, ${counts.failed} failed, ${counts.inconclusive} inconclusive, ${counts.error} errors of ${m.count}`,
  );
  return null;
}

async function measure(
  template: string,
  m: AnalysisMetric,
  conditions: { success: Condition | undefined; failure: Condition | undefined },
  opts: AnalysisOptions & { signal: AbortSignal },
): Promise<Taken> {
  const now = opts.now ?? (() => new Date());
  const calls = opts.calls ?? DEFAULT_QUERY_OPTIONS;
  const at = () => now().toISOString();
  const base = { template, metric: m.name, needs: needsOf(m) };
  if ('http' in m.provider) {
    const g = m.provider.http;
    let url: string;
    let headers: Record<string, string>;
    try {
      url = substituteUrl(g.url, opts.vars);
      const values = { ...opts.vars, ...opts.secrets };
      headers = Object.fromEntries(Object.entries(g.headers).map(([k, v]) => [k, substituteHeader(v, values)]));
    } catch (err) {
      if (!(err instanceof QueryVariableError)) throw err;
      return { measurement: { ...base, phase: 'error', at: at(), value: err.message, subject: `${g.method} ${shownUrl(g.url)}` }, permanent: true };
    }
    const subject = `${g.method} ${shownUrl(url)}`;
    const answer = await askGate({
      url,
      method: g.method,
      headers,
      timeoutMs: g.timeoutMs,
      retries: calls.retries,
      backoffMs: calls.backoffMs,
      signal: opts.signal,
    });
    const phase: MeasurementPhase = answer.verdict === 'pass' ? 'successful' : answer.verdict === 'fail' ? 'failed' : 'error';
    return { measurement: { ...base, phase, at: at(), value: answer.detail, subject } };
  }
  const p = m.provider.prometheus;
  const address = p.address ?? opts.prometheusUrl;
  let query: string;
  try {
    query = substituteQuery(p.query, opts.vars);
  } catch (err) {
    if (!(err instanceof QueryVariableError)) throw err;
    return { measurement: { ...base, phase: 'error', at: at(), value: err.message, subject: shortQuery(p.query) }, permanent: true };
  }
  const subject = shortQuery(query);
  if (!address) {
    return {
      measurement: {
        ...base,
        phase: 'error',
        at: at(),
        value: 'no Prometheus address: set SLIPWAY_PROMETHEUS_URL on the deploy worker or provider.prometheus.address',
        subject,
      },
      permanent: true,
    };
  }
  const when = at();
  let values: number[];
  try {
    values = (await queryPrometheus(address, query, { ...calls, signal: opts.signal })).values;
  } catch (err) {
    if (opts.signal.aborted) throw new Canceled();
    if (!(err instanceof PrometheusError)) throw err;
    return { measurement: { ...base, phase: 'error', at: when, value: err.message, subject }, permanent: err.permanent };
  }
  const value = shownValue(values);
  const judged = (phase: MeasurementPhase, why?: string): Taken => ({
    measurement: { ...base, phase, at: when, value: why ? `${value} (${why})` : value, subject },
  });
  try {
    if (conditions.failure && evaluateCondition(conditions.failure, values)) return judged('failed');
    if (conditions.success)
      return evaluateCondition(conditions.success, values) ? judged('successful') : judged(conditions.failure ? 'inconclusive' : 'failed');
    return judged('successful');
  } catch (err) {
    if (err instanceof Inconclusive) return judged('inconclusive', err.message);
    if (err instanceof Error && err.name === 'ConditionError') return judged('error', err.message);
    throw err;
  }
}
