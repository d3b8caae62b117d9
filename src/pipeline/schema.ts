import { CronExpressionParser } from 'cron-parser';
import { resourcesSchema } from './resources.js';
import { compileRegex } from '../patterns/regex.js';
import { analysisRefsSchema, analysisTemplatesSchema } from './analysis-schema.js';
import { z } from 'zod';

const EXPIRE_IN = /^\s*(?:never|(?:\d+\s*(?:s|sec|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)(?:\s+|\s*,\s*|\s*and\s+|$))+)\s*$/i;

/**
 * `.slipway.yml`, as data: GitLab CI's job keywords plus first-class `build`, `sonar` and
 * `deploy` blocks. Strict objects, so a typo is an error with a hint rather than a silently
 * ignored key. No transforms here: the same schemas generate pipelines/schema.json, and
 * normalising (durations, shorthands) happens in normalize.ts.
 */
export const DURATION = /^(\d+\s*(s|m|h)\s*)+$/;
export const duration = z.union(
  [z.number().int().positive(), z.string().regex(DURATION, "must be a duration like '90s', '10m', '1h 30m', or a number of seconds")],
  { error: "must be a duration like '90s', '10m', '1h 30m', or a number of seconds" },
);

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const scalar = z.union([z.string(), z.number(), z.boolean()], { error: 'must be a string, number or boolean' });
export const variables = z.record(
  z.string().regex(VAR_NAME, 'variable names are letters, digits and _'),
  z.union([scalar, z.strictObject({ value: scalar, description: z.string().optional() })], { error: 'must be a value or { value, description }' }),
);

const globs = z.array(z.string().min(1).max(1000)).min(1).max(50);
const when = z.enum(['on_success', 'on_failure', 'manual', 'never', 'always']);

export const ruleSchema = z.strictObject({
  if: z.string().min(1).optional(),
  changes: z.union([globs, z.strictObject({ paths: globs, compare_to: z.string().optional() })]).optional(),
  exists: globs.optional(),
  when: when.optional(),
  allow_failure: z.boolean().optional(),
  variables: variables.optional(),
});
export const rulesSchema = z.array(ruleSchema).max(50);

const needSchema = z.union([
  z.string().min(1),
  z.strictObject({ job: z.string().min(1), optional: z.boolean().optional(), artifacts: z.boolean().optional() }),
]);

export const RETRY_WHEN = [
  'always',
  'unknown_failure',
  'script_failure',
  'api_failure',
  'stuck_or_timeout_failure',
  'runner_system_failure',
  'job_execution_timeout',
] as const;
const retrySchema = z.union(
  [
    z.number().int().min(0).max(2),
    z.strictObject({
      max: z.number().int().min(0).max(2),
      when: z.union([z.enum(RETRY_WHEN), z.array(z.enum(RETRY_WHEN))]).optional(),
      exit_codes: z.union([z.number().int(), z.array(z.number().int())]).optional(),
    }),
  ],
  { error: 'must be 0-2 or { max, when }' },
);

const cacheSchema = z.strictObject({
  key: z.union([z.string().min(1).max(250), z.strictObject({ files: z.array(z.string().min(1)).min(1).max(2), prefix: z.string().optional() })]).optional(),
  paths: z.array(z.string().min(1)).min(1),
  policy: z.enum(['pull', 'push', 'pull-push']).optional(),
  when: z.enum(['on_success', 'on_failure', 'always']).optional(),
});

const artifactsSchema = z.strictObject({
  paths: z.array(z.string().min(1)).optional(),
  exclude: z.array(z.string().min(1)).optional(),
  // GitLab's words ('30 days', '1 week', '2h 30min', 'never'); anything else would silently fall back to the default.
  expire_in: z.string().regex(EXPIRE_IN, "expire_in must be 'never' or a duration such as '30 days', '1 week' or '2h 30min'").optional(),
  when: z.enum(['on_success', 'on_failure', 'always']).optional(),
  name: z.string().optional(),
  reports: z.strictObject({ junit: z.union([z.string().min(1), z.array(z.string().min(1))]).optional() }).optional(),
});

const commands = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'must be a command or a list of commands' });

/**
 * GitLab's `coverage: '/Total: \d+\.\d+%/'`. Compiled with RE2 (./regex.ts, the engine GitLab also
 * uses), so a pattern RE2 refuses (backreferences, lookaround) is refused at plan time.
 */
const coverageSchema = z
  .string()
  .min(1)
  .max(500)
  .superRefine((raw, ctx) => {
    try {
      compileRegex(/^\/(.*)\/$/s.exec(raw)?.[1] ?? raw);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a usable coverage pattern: ${(err as Error).message}` });
    }
  });

/** A job. Keys are optional here because `extends` and `default` may supply them; compile checks. */
export const jobSchema = z.strictObject({
  stage: z.string().min(1).optional(),
  image: z.string().min(1).optional(),
  script: commands.optional(),
  before_script: commands.optional(),
  variables: variables.optional(),
  rules: rulesSchema.optional(),
  needs: z.array(needSchema).max(50).optional(),
  when: when.optional(),
  timeout: duration.optional(),
  retry: retrySchema.optional(),
  allow_failure: z.union([z.boolean(), z.strictObject({ exit_codes: z.union([z.number().int(), z.array(z.number().int())]) })]).optional(),
  interruptible: z.boolean().optional(),
  cache: z.union([cacheSchema, z.array(cacheSchema).max(4)]).optional(),
  artifacts: artifactsSchema.optional(),
  resource_group: z.string().min(1).max(255).optional(),
  resources: resourcesSchema.optional(),
  coverage: coverageSchema.optional(),
  extends: z.union([z.string().min(1), z.array(z.string().min(1)).max(10)]).optional(),
});

export const defaultSchema = z.strictObject({
  image: z.string().min(1).optional(),
  before_script: commands.optional(),
  timeout: duration.optional(),
  retry: retrySchema.optional(),
  interruptible: z.boolean().optional(),
});

export const buildSchema = z.strictObject({
  image: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/, 'an image repository like group/service (lowercase)'),
  dockerfile: z.string().min(1).default('Dockerfile'),
  template: z
    .string()
    .regex(/^[a-z0-9-]+$/, 'a built-in template name like node or php-fpm')
    .optional(),
  context: z.string().min(1).optional(),
  args: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  tags: z
    .array(z.string().regex(/^[A-Za-z0-9_${}][A-Za-z0-9_.${}-]{0,127}$/, 'a tag: letters, digits, _ . - (variables allowed)'))
    .max(10)
    .optional(),
  stage: z.string().min(1).optional(),
  needs: z.array(needSchema).max(50).optional(),
  rules: rulesSchema.optional(),
  timeout: duration.optional(),
});

export const sonarSchema = z.strictObject({
  project_key: z.string().regex(/^[A-Za-z0-9_.:-]+$/, 'a Sonar project key: letters, digits, _ . : -'),
  gate: z.enum(['required', 'advisory']).default('required'),
  image: z.string().min(1).optional(),
  stage: z.string().min(1).optional(),
  needs: z.array(needSchema).max(50).optional(),
  rules: rulesSchema.optional(),
  timeout: duration.optional(),
});

// Argo Rollouts' canary steps, as its users write them: setWeight, pause with a duration, or an
// empty pause (in Argo: until someone promotes it).
const canaryStep = z.union(
  [z.strictObject({ setWeight: z.number().int().min(1).max(100) }), z.strictObject({ pause: z.strictObject({ duration: duration.optional() }) })],
  { error: 'a step is { setWeight: 1-100 }, { pause: { duration: 10m } } or { pause: {} }' },
);

// Kubernetes' own spelling for a rolling update's pace: a count of pods or a percent of the replicas.
const intOrPercent = z.union([z.number().int().min(0).max(1000), z.string().regex(/^(100|[1-9]?[0-9])%$/, "a percent from 0% to 100% (e.g. '25%')")], {
  error: "a number of pods (e.g. 1) or a percent of the replicas (e.g. '25%')",
});
const isZero = (v: number | string | undefined) => v === 0 || v === '0%';

const strategySchema = z.union(
  [
    z.enum(['rolling', 'blue-green']),
    z.strictObject({
      rolling: z
        .strictObject({ maxSurge: intOrPercent.optional(), maxUnavailable: intOrPercent.optional() })
        .refine((r) => !(isZero(r.maxSurge) && isZero(r.maxUnavailable)), {
          error: 'maxSurge and maxUnavailable cannot both be 0: the rollout could not replace any pod',
        }),
    }),
    z.strictObject({
      'blue-green': z.strictObject({
        scaleDownDelay: duration
          .optional()
          .describe('How long the previous release stays scaled up after the switch, for an instant switch back (default 30s, as Argo Rollouts).'),
        prePromotionAnalysis: analysisRefsSchema
          .optional()
          .describe(
            "Templates of deploy.analysis run against the new side once it is ready and before the switch (Argo Rollouts' prePromotionAnalysis): failing, the switch never happens and the new side is scaled away.",
          ),
        postPromotionAnalysis: analysisRefsSchema
          .optional()
          .describe(
            "Kubernetes: templates of deploy.analysis run right after the switch while the previous side is still up (Argo Rollouts' postPromotionAnalysis): failing, the active Service is switched back.",
          ),
      }),
    }),
    z.strictObject({
      canary: z.strictObject({
        steps: z.array(canaryStep).min(1).max(20),
      }),
    }),
  ],
  {
    error:
      "must be 'rolling', 'blue-green', { rolling: { maxSurge, maxUnavailable } }, { blue-green: { scaleDownDelay, prePromotionAnalysis, postPromotionAnalysis } } or { canary: { steps } }",
  },
);

const clusterName = z.string().regex(/^[a-z0-9-]+$/, 'cluster names are lowercase letters, digits and -');

/**
 * `clusters: [a, b]`, or with weights for the replica split: `[{ name: a, weight: 3 }, { name: b, weight: 1 }]`.
 * The first cluster is the first wave. Every cluster has a weight or none does (then the replicas
 * are split by free capacity); a name appears once.
 */
const clustersSchema = z
  .array(
    z.union([clusterName, z.strictObject({ name: clusterName, weight: z.number().int().min(1).max(1000) })], {
      error: 'a cluster is a name or { name, weight }',
    }),
  )
  .min(1)
  .max(10)
  .superRefine((list, ctx) => {
    const weighted = list.filter((c) => typeof c !== 'string').length;
    if (weighted > 0 && weighted < list.length) {
      ctx.addIssue({ code: 'custom', message: 'give every cluster a weight ({ name, weight }) or none' });
    }
    const names = list.map((c) => (typeof c === 'string' ? c : c.name));
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice !== undefined) ctx.addIssue({ code: 'custom', message: `cluster ${twice} is listed twice` });
  });

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const DAY_RANGE = /^(sun|mon|tue|wed|thu|fri|sat)(-(sun|mon|tue|wed|thu|fri|sat))?$/;
const DAYS = "days are a range like 'mon-fri', one day like 'sat', or a list like [sat, sun]";
const CLOCK = /^([01]\d|2[0-3]):[0-5]\d$/;

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const timezone = z.string().min(1).refine(isTimeZone, { error: 'an IANA time zone such as Europe/Berlin or UTC' }).default('UTC');

/** GitLab's Deploy Freeze cron: five fields (minute hour day-of-month month day-of-week), parsed as cron-parser does. */
const cron = z
  .string()
  .min(1)
  .max(200)
  .superRefine((raw, ctx) => {
    const fields = raw.trim().split(/\s+/);
    if (fields.length !== 5 || /[H@]/.test(raw)) {
      ctx.addIssue({
        code: 'custom',
        message: `'${raw}' is not a cron expression of five fields (minute hour day-of-month month day-of-week), e.g. '0 18 20 12 *'`,
      });
      return;
    }
    try {
      CronExpressionParser.parse(raw, { tz: 'UTC' }).next();
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `'${raw}' is not a usable cron expression: ${(err as Error).message}` });
    }
  });

const deployWindowSchema = z
  .strictObject({
    days: z.union(
      [
        z.string().regex(DAY_RANGE, DAYS),
        z
          .array(z.enum(WEEKDAYS, { error: DAYS }))
          .min(1)
          .max(7),
      ],
      { error: DAYS },
    ),
    from: z.string().regex(CLOCK, "a time of day like '09:00' (24-hour)"),
    to: z.string().regex(CLOCK, "a time of day like '17:00' (24-hour)"),
    timezone,
  })
  .refine((w) => !CLOCK.test(w.from) || !CLOCK.test(w.to) || w.from < w.to, {
    error: "'from' must be earlier than 'to' on the same day (a window across midnight is two windows)",
    path: ['to'],
  });

const freezeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,59}$/, 'a short name: letters, digits, space, _ . -'),
  start: cron,
  end: cron,
  timezone,
});

export const environmentSchema = z.strictObject({
  target: z.enum(['docker', 'kubernetes']).default('docker'),
  port: z.number().int().min(1024).max(65534),
  health: z.string().startsWith('/').default('/'),
  timeout: duration.optional(),
  variables: variables.optional(),
  approval: z
    .union([
      z.boolean(),
      z.strictObject({
        required: z.number().int().min(1).max(10).optional(),
        min_access: z.enum(['developer', 'maintainer', 'owner']).optional(),
        groups: z
          .array(z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'a GitLab group path like team/release-managers'))
          .max(20)
          .optional(),
        users: z
          .array(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'a GitLab username'))
          .max(50)
          .optional(),
        allow_author: z.boolean().optional(),
      }),
    ])
    .optional(),
  clusters: clustersSchema.optional(),
  on_cluster_failure: z
    .enum(['rollback-all', 'keep-healthy'], { error: "must be 'rollback-all' (default) or 'keep-healthy'" })
    .optional()
    .describe(
      'When a cluster fails or cannot be reached: rollback-all (default) rolls every cluster that got the release back; keep-healthy keeps the healthy clusters on the new release and rolls back only the failed ones (the job still fails).',
    ),
  registry: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_]*$/, 'a registry name configured on the Slipway side (SLIPWAY_REGISTRY_<NAME>_HOST, lowercased): lowercase letters, digits and _')
    .max(60)
    .optional(),
  strategy: strategySchema.optional(),
  traffic_router: z
    .enum(['nginx-ingress'], { error: "the one traffic router Slipway drives is 'nginx-ingress'" })
    .optional()
    .describe(
      "Kubernetes: a canary's weight is also carried by a second Ingress with ingress-nginx's canary annotations (canary, canary-weight), beside the replica ratio.",
    ),
  front_proxy: z.strictObject({ port: z.number().int().min(1024).max(65535) }).optional(),
  rules: rulesSchema.optional(),
  resource_group: z.string().min(1).max(255).optional(),
  deploy_windows: z.array(deployWindowSchema).min(1).max(20).optional(),
  freeze: z.array(freezeSchema).min(1).max(50).optional(),
  soak: duration.optional(),
  /** Templates of `deploy.analysis` that must pass once the rollout is healthy, else it is rolled back. */
  analysis: analysisRefsSchema.optional(),
});

export const deploySchema = z.strictObject({
  service: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/, 'a service name: lowercase letters, digits and -')
    .optional(),
  template: z.string().min(1).default('docker-service'),
  strategy: strategySchema.optional(),
  stage: z.string().min(1).optional(),
  environments: z
    .record(z.string().regex(/^[a-z0-9-]+$/, 'environment names are lowercase letters, digits and -'), environmentSchema)
    .superRefine((envs, ctx) => {
      // A soak watches the environment listed before (production after pre): the first has none.
      const first = Object.entries(envs)[0];
      if (first?.[1].soak !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [first[0], 'soak'],
          message: `the first environment has no earlier one for its release to soak in: list ${first[0]} after the environment to soak in (e.g. pre)`,
        });
      }
    }),
  analysis: analysisTemplatesSchema.optional(),
});

const includeItem = z.union(
  [
    z.string().min(1),
    z.strictObject({ local: z.string().min(1) }),
    z.strictObject({ template: z.string().regex(/^[a-z0-9-]+$/, 'a built-in template name') }),
    z.strictObject({
      project: z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/, 'a project path like group/project'),
      ref: z.string().min(1).optional(),
      file: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    }),
  ],
  { error: 'an include is a path, { local }, { template } or { project, ref, file }' },
);
export const includeSchema = z.union([includeItem, z.array(includeItem).max(50)]);

export const RESERVED_KEYS = ['stages', 'variables', 'default', 'include', 'build', 'sonar', 'deploy'] as const;

export const topSchema = z.object({
  stages: z.array(z.string().min(1)).min(1).max(50).optional(),
  variables: variables.optional(),
  default: defaultSchema.optional(),
  include: includeSchema.optional(),
  build: buildSchema.optional(),
  sonar: sonarSchema.optional(),
  deploy: deploySchema.optional(),
});

export type JobSpec = z.infer<typeof jobSchema>;
export type RuleSpec = z.infer<typeof ruleSchema>;
export type NeedSpec = z.infer<typeof needSchema>;
export type BuildBlock = z.infer<typeof buildSchema>;
export type SonarBlock = z.infer<typeof sonarSchema>;
export type DeploySpec = z.infer<typeof deploySchema>;
export type EnvironmentBlock = z.infer<typeof environmentSchema>;
export type IncludeSpec = z.infer<typeof includeSchema>;
export type DefaultSpec = z.infer<typeof defaultSchema>;
export type VariablesSpec = z.infer<typeof variables>;
