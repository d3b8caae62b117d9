import { z } from 'zod';

/**
 * `deploy.analysis`: named analysis templates, as Argo Rollouts' AnalysisTemplate writes its
 * metrics (`interval`, `count`, `failureLimit`, `successCondition`, `provider.prometheus.query`), so
 * a template can be carried over from there; and the `analysis: [names]` an environment gates its
 * deploy with. Checks across keys (names exist, conditions parse) are in semantics.ts; the planner
 * normalizes a template into src/analysis/types.ts's `AnalysisTemplate`.
 */
// The same durations as schema.ts's `duration` (which cannot be imported here: schema.ts imports this file).
const DURATION = /^(\d+\s*(s|m|h)\s*)+$/;
const duration = z.union([z.number().int().positive(), z.string().regex(DURATION, "must be a duration like '10s', '1m', or a number of seconds")], {
  error: "must be a duration like '10s', '1m', or a number of seconds",
});

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
export const analysisName = z.string().regex(NAME, 'analysis names are lowercase letters, digits and - (at most 63)');
const condition = z.string().min(1).max(500);
const limit = (def: number) => z.number().int().min(0).max(100).default(def);

const prometheus = z.strictObject({
  prometheus: z.strictObject({
    query: z.string().min(1).max(10_000),
    address: z
      .string()
      .regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, "Prometheus's base URL, like http://prometheus.monitoring:9090")
      .optional(),
  }),
});

const http = z.strictObject({
  http: z.strictObject({
    url: z.string().regex(/^https?:\/\/\S+$/, 'an http:// or https:// URL'),
    method: z.enum(['GET', 'POST']).default('GET'),
    headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'a header name: letters, digits and -'), z.string().max(4096)).optional(),
    timeout: duration.optional(),
  }),
});

export const analysisMetricSchema = z.strictObject({
  name: analysisName,
  provider: z.union([prometheus, http], { error: 'a provider is { prometheus: { query } } or { http: { url } }' }),
  successCondition: condition.optional(),
  failureCondition: condition.optional(),
  count: z.number().int().min(1).max(100).default(1),
  interval: duration.optional(),
  initialDelay: duration.optional(),
  failureLimit: limit(0),
  inconclusiveLimit: limit(0),
  consecutiveErrorLimit: limit(4),
});

export const analysisTemplateSchema = z.strictObject({
  metrics: z.array(analysisMetricSchema).min(1).max(20),
});

/** `deploy.analysis`: template name → template. */
export const analysisTemplatesSchema = z.record(analysisName, analysisTemplateSchema);

/** An environment's `analysis:` — the templates that must pass after its rollout is healthy. */
export const analysisRefsSchema = z.array(analysisName).min(1).max(10);

export type AnalysisTemplateBlock = z.infer<typeof analysisTemplateSchema>;
export type AnalysisMetricBlock = z.infer<typeof analysisMetricSchema>;
