import { z } from 'zod';
import type {
  AnalysisMetric,
  AnalysisTemplate,
  ApprovalSpec,
  BuildSpec,
  DeployStrategy,
  DeployWindowSpec,
  FreezeSpec,
  SoakSpec,
  EnvironmentSpec,
  Plan,
  PlannedArtifacts,
  PlannedCache,
  PlannedCommon,
  PlannedDeployJob,
  PlannedResources,
  PlannedImageJob,
  PlannedJob,
  PlannedScriptJob,
  PlannedSonarJob,
  SkippedJob,
  StrategyStep,
} from '../planning/plan-types.js';
import { schemaOf } from './schema-of.js';

// The plan as stored in a run record (field `plan`), read back by the scheduler, the workers and
// the API. It lives in runs/ rather than beside the types in planning/: what it guards is the
// stored form, which outlives one version of the code (records are kept 30 days), and runs/ keeps
// importing only planning's types. schemaOf<T>() makes a type change in planning/plan-types.ts
// fail to compile here until the schema follows.

const strings = z.array(z.string());
const numbers = z.array(z.number());
const stringMap = z.record(z.string(), z.string());

const common = {
  name: z.string(),
  stage: z.string(),
  needs: strings,
  stageNeeds: strings.exactOptional(),
  artifactsFrom: strings,
  when: z.enum(['on_success', 'on_failure', 'manual', 'always']),
  allowFailure: z.union([z.boolean(), z.object({ exitCodes: numbers })]),
  retry: z.object({
    max: z.number(),
    when: z.array(
      z.enum(['always', 'unknown_failure', 'script_failure', 'api_failure', 'stuck_or_timeout_failure', 'runner_system_failure', 'job_execution_timeout']),
    ),
    exitCodes: numbers.exactOptional(),
  }),
  interruptible: z.boolean(),
  resourceGroup: z.string().exactOptional(),
  timeoutMs: z.number(),
};
schemaOf<PlannedCommon>()(z.object(common));

const cache = schemaOf<PlannedCache>()(
  z.object({
    key: z.string(),
    keyFiles: strings,
    paths: strings,
    policy: z.enum(['pull', 'push', 'pull-push']),
    when: z.enum(['on_success', 'on_failure', 'always']),
  }),
);

const artifacts = schemaOf<PlannedArtifacts>()(
  z.object({
    paths: strings,
    exclude: strings,
    junit: strings,
    when: z.enum(['on_success', 'on_failure', 'always']),
    expireInMs: z.number().exactOptional(),
    neverExpire: z.boolean().exactOptional(),
  }),
);

const amounts = z.object({ cpuMillis: z.number().exactOptional(), memoryBytes: z.number().exactOptional() });
const resources = schemaOf<PlannedResources>()(z.object({ requests: amounts.exactOptional(), limits: amounts.exactOptional() }));

const scriptJob = schemaOf<PlannedScriptJob>()(
  z.object({
    ...common,
    kind: z.literal('script'),
    image: z.string(),
    script: strings,
    variables: stringMap,
    cache: z.array(cache),
    artifacts: artifacts.exactOptional(),
    coverage: z.string().exactOptional(),
    resources: resources.exactOptional(),
  }),
);

const build = schemaOf<BuildSpec>()(
  z.object({
    image: z.string(),
    dockerfile: z.string(),
    template: z.string().exactOptional(),
    context: z.string(),
    args: stringMap,
    tags: strings,
  }),
);

const imageJob = schemaOf<PlannedImageJob>()(z.object({ ...common, kind: z.literal('image'), name: z.literal('image'), build }));

const sonarJob = schemaOf<PlannedSonarJob>()(
  z.object({
    ...common,
    kind: z.literal('sonar'),
    name: z.literal('sonar'),
    projectKey: z.string(),
    gate: z.enum(['required', 'advisory']),
    image: z.string().exactOptional(),
  }),
);

const spec = schemaOf<EnvironmentSpec>()(
  z.object({
    target: z.enum(['docker', 'kubernetes']),
    port: z.number(),
    health: z.string(),
    timeout: z.union([z.number(), z.string()]).exactOptional(),
    variables: stringMap.exactOptional(),
    registry: z.string().exactOptional(),
    frontProxy: z.object({ port: z.number() }).exactOptional(),
    trafficRouter: z.literal('nginx-ingress').exactOptional(),
  }),
);

const approval = schemaOf<ApprovalSpec>()(
  z.object({
    required: z.number(),
    groups: strings,
    users: strings,
    minAccess: z.enum(['developer', 'maintainer', 'owner']).exactOptional(),
    allowAuthor: z.boolean().exactOptional(),
  }),
);

const step = schemaOf<StrategyStep>()(z.union([z.object({ setWeight: z.number() }), z.object({ pauseMs: z.number().nullable() })]));

const strategy = schemaOf<DeployStrategy>()(
  z.discriminatedUnion('type', [
    z.object({
      type: z.literal('rolling'),
      maxSurge: z.union([z.number(), z.string()]).exactOptional(),
      maxUnavailable: z.union([z.number(), z.string()]).exactOptional(),
    }),
    z.object({ type: z.literal('blue-green'), scaleDownDelayMs: z.number().exactOptional() }),
    z.object({ type: z.literal('canary'), steps: z.array(step) }),
  ]),
);

const window = schemaOf<DeployWindowSpec>()(z.object({ days: numbers, from: z.string(), to: z.string(), timezone: z.string() }));
const freeze = schemaOf<FreezeSpec>()(z.object({ name: z.string(), start: z.string(), end: z.string(), timezone: z.string() }));
const soak = schemaOf<SoakSpec>()(z.object({ ms: z.number(), after: z.string() }));
const analysisMetric = schemaOf<AnalysisMetric>()(
  z.object({
    name: z.string(),
    count: z.number(),
    intervalMs: z.number(),
    initialDelayMs: z.number(),
    failureLimit: z.number(),
    inconclusiveLimit: z.number(),
    consecutiveErrorLimit: z.number(),
    successCondition: z.string().exactOptional(),
    failureCondition: z.string().exactOptional(),
    provider: z.union([
      z.object({ prometheus: z.object({ query: z.string(), address: z.string().exactOptional() }) }),
      z.object({ http: z.object({ url: z.string(), method: z.enum(['GET', 'POST']), headers: stringMap, timeoutMs: z.number() }) }),
    ]),
  }),
);

const analysisTemplate = schemaOf<AnalysisTemplate>()(z.object({ name: z.string(), metrics: z.array(analysisMetric) }));

const deployJob = schemaOf<PlannedDeployJob>()(
  z.object({
    ...common,
    kind: z.literal('deploy'),
    environment: z.string(),
    service: z.string(),
    template: z.string(),
    spec,
    approval: approval.exactOptional(),
    clusters: strings,
    clusterWeights: z.record(z.string(), z.number()).exactOptional(),
    onClusterFailure: z.enum(['rollback-all', 'keep-healthy']).exactOptional(),
    strategy,
    windows: z.array(window).exactOptional(),
    freezes: z.array(freeze).exactOptional(),
    soak: soak.exactOptional(),
    analysis: z.array(analysisTemplate).exactOptional(),
    prePromotionAnalysis: z.array(analysisTemplate).exactOptional(),
  }),
);

const job = schemaOf<PlannedJob>()(z.discriminatedUnion('kind', [scriptJob, imageJob, sonarJob, deployJob]));

const skipped = schemaOf<SkippedJob>()(z.object({ name: z.string(), reason: z.string() }));

export const planSchema = schemaOf<Plan>()(
  z.object({
    jobs: z.array(job),
    skipped: z.array(skipped),
    stages: strings,
    includes: strings,
  }),
);
