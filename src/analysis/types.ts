/**
 * An analysis as it runs: templates of metrics, each measured `count` times, `intervalMs` apart,
 * after `initialDelayMs` (Argo Rollouts' AnalysisTemplate, with durations already in ms). The
 * pipeline file's `deploy.analysis` (src/pipeline/analysis-schema.ts) is normalized into this by
 * the planner; the deploy job and the canary steps hand it to `runAnalysis`.
 */
export interface AnalysisTemplate {
  name: string;
  metrics: AnalysisMetric[];
}

export interface AnalysisMetric {
  name: string;
  /** Measurements taken; the analysis of this metric ends after the last one (or earlier, once failed). */
  count: number;
  intervalMs: number;
  initialDelayMs: number;
  /** Failed measurements tolerated; one more fails the metric (Argo's default 0). */
  failureLimit: number;
  /** Inconclusive measurements tolerated; one more fails the metric (Argo pauses there; Slipway has no one to ask). */
  inconclusiveLimit: number;
  /** Measurements in a row that could not be taken (query error, unreachable) tolerated; one more fails the metric (Argo's default 4). */
  consecutiveErrorLimit: number;
  /** Prometheus only. Argo's expression subset (condition.ts); neither given = any value passes. */
  successCondition?: string;
  failureCondition?: string;
  provider: MetricProvider;
}

export type MetricProvider = { prometheus: PrometheusProvider } | { http: HttpGateProvider };

export interface PrometheusProvider {
  /** PromQL; `${NAME}` is replaced by the variable's value as a PromQL string literal (promql-vars.ts). */
  query: string;
  /** Prometheus's base URL; absent = the deploy worker's SLIPWAY_PROMETHEUS_URL. */
  address?: string;
}

export interface HttpGateProvider {
  /** Answers 2xx = pass (or a JSON body `{"pass": bool, "reason": "..."}`), anything else = fail. `${NAME}` is URL-encoded. */
  url: string;
  method: 'GET' | 'POST';
  /** Header values may name project variables (`${TICKET_TOKEN}`); never logged. */
  headers: Record<string, string>;
  timeoutMs: number;
}

export type MeasurementPhase = 'successful' | 'failed' | 'inconclusive' | 'error';

export interface Measurement {
  template: string;
  metric: string;
  phase: MeasurementPhase;
  /** When the value was taken (ISO 8601, UTC). */
  at: string;
  /** What was seen: `0.31`, `[0.31, 0.02]`, `HTTP 503: ...`; why for inconclusive and error. */
  value: string;
  /** What it is judged by: the query (shortened) or the URL without its query string. */
  subject: string;
  /** The condition it needed, as the template writes it, or the HTTP gate's rule. */
  needs: string;
}

export type AnalysisResult = { passed: true; measurements: Measurement[] } | { passed: false; reason: string; measurements: Measurement[] };
