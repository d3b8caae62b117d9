import { z } from 'zod';
import path from 'node:path';
import { type OAuthConfig, type ReadFile, readOAuthConfig } from './oauth-config.js';

export type { OAuthConfig } from './oauth-config.js';

/** Everything Slipway reads from its environment, parsed once at start. */
export interface SlipwayConfig {
  http: { host: string; port: number; publicUrl: string };
  /** Unset: Slipway starts its own redis-server under dataDir (the embedded default). */
  redisUrl: string | undefined;
  /**
   * A Sentinel group (SLIPWAY_REDIS_SENTINELS + SLIPWAY_REDIS_SENTINEL_NAME) or a Redis Cluster
   * (SLIPWAY_REDIS_CLUSTER) instead of one server; at most one of these and REDIS_URL is set.
   */
  redisTopology: RedisTopology | undefined;
  /**
   * Replicas that must have an accepted run before its webhook is answered 202 (WAIT), and how long
   * to wait for them: SLIPWAY_REDIS_WAIT_REPLICAS (default 1 with Sentinel or Cluster, 0 otherwise)
   * and SLIPWAY_REDIS_WAIT_MS (default 1000).
   */
  redisWait: { replicas: number; timeoutMs: number };
  /** SLIPWAY_REDIS_PASSWORD: the data nodes' password with a Sentinel group or a Cluster (REDIS_URL carries its own). Secret. */
  redisPassword: string | undefined;
  /**
   * Prefix of every Redis key (queues, records, locks): several Slipways can share one Redis. On a
   * Cluster it is the hash tag `{SLIPWAY_REDIS_PREFIX}`, so every key Slipway and BullMQ write lands
   * in one slot and each multi-key script and transaction stays legal.
   */
  redisPrefix: string;
  /**
   * Run on an external Redis that may lose acknowledged events or evict keys (or whose settings
   * cannot be read): reported by /readyz and the logs instead of refusing to start.
   */
  redisAcceptWeakDurability: boolean;
  dataDir: string;
  workspaceDir: string;
  apiToken: string | undefined;
  /**
   * /metrics: a token Prometheus may send instead of the API token (so the scraper cannot call the
   * API), and a port for a second listener serving only /metrics and /healthz (for processes
   * without the HTTP role, or to keep metrics off the public port).
   */
  metrics: { token: string | undefined; port: number | undefined };
  /** 32-byte key sealing project variables at rest; unset: one is made and kept in the data dir. */
  variablesKey: string | undefined;
  webhook: {
    /** Accepted for every project that has no secret of its own. */
    secret: string | undefined;
    /** Per-project secrets, keyed by project id or path_with_namespace. */
    projectSecrets: Record<string, string>;
    /** whsec_… signing token: when set, deliveries must carry a valid Standard Webhooks signature. */
    signingSecret: string | undefined;
    maxBodyBytes: number;
  };
  gitlab: { url: string; token: string };
  /** Where mirrors fetch from: `${gitBaseUrl}/${path_with_namespace}.git` (never a URL taken from the payload). */
  gitBaseUrl: string;
  dockerHost: string;
  /**
   * Image jobs: 'buildkit' (the engine's BuildKit, fed from the mirror over a session: only changed
   * files travel) or 'classic' (the engine's legacy builder with a context tar, for engines without
   * BuildKit).
   */
  imageBuilder: 'buildkit' | 'classic';
  /**
   * How image jobs push: 'slipway' (Slipway reads the layers out of the engine, gzips new ones at
   * level 1 and uploads them itself, docs/decisions.md) or 'engine' (the engine's own push).
   */
  imagePush: 'slipway' | 'engine';
  registry: { host: string; username: string | undefined; password: string | undefined };
  /**
   * Registries environments deploy from (`registry: <name>` in the pipeline file), by name, from
   * SLIPWAY_REGISTRY_<NAME>_*: an environment whose registry is not the one images are pushed to
   * gets the release's image promoted there before its rollout.
   */
  registries: Record<string, NamedRegistry>;
  /** Promotion between registries: attempts of the whole copy, first backoff step, and its deadline. */
  promotion: { attempts: number; backoffMs: number; timeoutMs: number };
  /** Harbor in front of the registry: projects are ensured and immutable tags checked before a push. */
  harbor: { url: string } | undefined;
  concurrency: { planner: number; build: number; deploy: number };
  /** Running build jobs allowed per project and across all workers (0 = no limit). */
  limits: { buildsPerProject: number; buildsGlobal: number; affinityWaitMs: number };
  /**
   * Dependency caches (cache: in the pipeline file) live in the registry, bounded per project
   * (projectMaxBytes, LRU); `dir` is this node's copy of cache and artifact tars in front of the
   * registry, bounded by maxBytes (LRU).
   */
  cache: { dir: string; maxBytes: number; projectMaxBytes: number };
  /**
   * Artifacts and caches as OCI artifacts in SLIPWAY_REGISTRY, under `<repository>/<project id>/…`.
   * Artifacts expire after artifactsExpireMs unless the job says `expire_in` (null: never); the
   * build nodes sweep expired ones every sweepEveryMs.
   */
  store: { repository: string; artifactsExpireMs: number | null; sweepEveryMs: number };
  /** SonarQube for `sonar:` jobs: server, token and the scanner image. */
  sonar: { url: string | undefined; token: string | undefined; scannerImage: string };
  /** Kubernetes clusters for `target: kubernetes`: name → kubeconfig file (its current context). */
  kubernetes: { clusters: Record<string, string> };
  /**
   * Where script and sonar steps run (SLIPWAY_EXECUTOR): 'docker' (a container on DOCKER_HOST) or
   * 'kubernetes' (a Pod per step in `namespace` of the cluster named in SLIPWAY_CLUSTERS; absent
   * namespace: the kubeconfig context's). `helperImage` copies the work tree in and out of the Pod.
   */
  executor: { kind: 'docker' } | { kind: 'kubernetes'; cluster: string; namespace: string | undefined; helperImage: string };
  /** The docker host's front proxy (SLIPWAY_FRONT_PROXY_DIR, SLIPWAY_NGINX): an nginx instance's directory; absent, no environment may use front_proxy. */
  frontProxy: { dir: string; nginx: string } | undefined;
  /** Prometheus's base URL for `analysis:` metrics that name no `address` (SLIPWAY_PROMETHEUS_URL). */
  prometheus: { url: string | undefined };
  /** Chat webhooks told about run events (SLIPWAY_NOTIFY_<NAME>_*). */
  notify: NotifyConfig;
  /** Catching what GitLab's webhooks dropped, through the GitLab API (SLIPWAY_RECONCILE_*). */
  reconcile: ReconcileConfig;
  /**
   * The web UI: GitLab usernames that are admins here besides GitLab's own administrators (the
   * queue dashboard), whether X-Forwarded-Proto from a proxy in front is believed (Secure cookies
   * behind HTTPS), how long a session lives, and sign-in with GitLab OAuth when configured.
   */
  ui: { admins: string[]; trustProxy: boolean; sessionTtlSeconds: number; oauth: OAuthConfig | undefined };
  logLevel: string;
}

/** Run events a chat channel can be told about. Only some are emitted yet (docs/configuration.md says which). */
export const NOTIFY_EVENTS = ['pipeline-failed', 'approval-requested', 'deployed', 'rolled-back', 'analysis-aborted'] as const;
export type NotifyEventKind = (typeof NOTIFY_EVENTS)[number];
export const NOTIFY_FORMATS = ['slack', 'dingtalk', 'wecom', 'json'] as const;
export type NotifyFormat = (typeof NOTIFY_FORMATS)[number];

export interface NotifyChannel {
  /** From the variable names, lowercased (SLIPWAY_NOTIFY_TEAM_A_URL → team_a): what logs and run logs name. */
  name: string;
  /** Secret: incoming webhook URLs carry their token. Never logged. */
  url: string;
  format: NotifyFormat;
  events: NotifyEventKind[];
  /** DingTalk's "加签" secret (SEC…): each request then carries timestamp and sign. */
  signSecret: string | undefined;
}

export interface NotifyConfig {
  channels: NotifyChannel[];
  /** Per attempt, including reading the answer. */
  timeoutMs: number;
  /** Retries after the first attempt. */
  retries: number;
  /** First backoff step; doubles per retry (with jitter), at most 30 s. */
  backoffMs: number;
}

export interface ReconcileConfig {
  /** 0 = never (the start-up pass is skipped too). */
  everyMs: number;
  /** Projects watched even before any webhook came from them. */
  projects: number[];
  /** Branches watched besides each project's default branch. */
  branches: string[];
  /** A project that sent no webhook for this long while the reconciler finds missed events is reported silent. */
  silentAfterMs: number;
}

export interface NamedRegistry {
  /** From SLIPWAY_REGISTRY_<NAME>_HOST, lowercased: what `registry:` in the pipeline file names. */
  name: string;
  /** host[:port], as in an image name. */
  host: string;
  username: string | undefined;
  /** Secret. Sent only in an Authorization header (or to the registry's token service), never logged. */
  password: string | undefined;
  /** Harbor project replacing the first path segment of the image's repository (`pre/app` → `prod/app`). */
  project: string | undefined;
  /** false: images reach this registry by other means (Harbor replication); Slipway only checks the digest is there. */
  promote: boolean;
}

export interface RedisNode {
  host: string;
  port: number;
}

/** Where Redis is when it is not one server: ioredis finds the master through the sentinels, or the slots through the cluster's nodes. */
export type RedisTopology = { kind: 'sentinel'; sentinels: RedisNode[]; name: string } | { kind: 'cluster'; nodes: RedisNode[] };

export type ConfigResult = { ok: true; config: SlipwayConfig } | { ok: false; problems: string[] };

const intFrom = (name: string, def: number, min: number, max: number) =>
  z.coerce
    .number({ error: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .max(max, `${name} must be at most ${max}`)
    .default(def);

const urlFrom = (name: string) => z.url({ error: `${name} must be an absolute URL` });

const secretMap = z.string().transform((raw, ctx) => {
  try {
    const parsed = z.record(z.string(), z.string().min(8)).safeParse(JSON.parse(raw));
    if (parsed.success) return parsed.data;
  } catch {
    /* reported below */
  }
  ctx.addIssue({ code: 'custom', message: 'SLIPWAY_WEBHOOK_PROJECT_SECRETS must be a JSON object of "project id or path": "secret (8+ chars)"' });
  return z.NEVER;
});

/** host:port,host:port (IPv6 in brackets: [::1]:26379). */
const redisNodes = (name: string) =>
  z.string().transform((raw, ctx) => {
    const nodes: RedisNode[] = [];
    for (const part of raw
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '')) {
      const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(part);
      const port = Number(m?.[2]);
      if (!m?.[1] || !(port >= 1 && port <= 65535)) {
        ctx.addIssue({ code: 'custom', message: `${name} must be host:port pairs separated by commas, e.g. 10.0.0.1:26379,10.0.0.2:26379 (got '${part}')` });
        return z.NEVER;
      }
      nodes.push({ host: m[1].replace(/^\[|\]$/g, ''), port });
    }
    if (nodes.length === 0) {
      ctx.addIssue({ code: 'custom', message: `${name} names no host:port` });
      return z.NEVER;
    }
    return nodes;
  });

const CLUSTERS_FORMAT =
  'SLIPWAY_CLUSTERS must be name=kubeconfig-path pairs separated by commas (names: lowercase letters, digits and -), e.g. pre=/etc/slipway/pre.kubeconfig,prod-a=/etc/slipway/prod-a.kubeconfig';
const clusterMap = z.string().transform((raw, ctx) => {
  const out: Record<string, string> = {};
  for (const part of raw
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')) {
    const m = /^([a-z0-9-]+)=(.+)$/.exec(part);
    if (!m?.[1] || !m[2] || m[1] in out) {
      ctx.addIssue({ code: 'custom', message: m?.[1] && m[1] in out ? `SLIPWAY_CLUSTERS names cluster ${m[1]} twice` : CLUSTERS_FORMAT });
      return z.NEVER;
    }
    out[m[1]] = path.resolve(m[2]);
  }
  return out;
});

const envSchema = z.object({
  SLIPWAY_HOST: z.string().default('127.0.0.1'),
  SLIPWAY_PORT: intFrom('SLIPWAY_PORT', 8080, 0, 65535),
  SLIPWAY_PUBLIC_URL: urlFrom('SLIPWAY_PUBLIC_URL').optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'REDIS_URL must start with redis:// or rediss://')
    .optional(),
  SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY: z.enum(['true', 'false'], { error: 'SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY must be true or false' }).default('false'),
  SLIPWAY_REDIS_SENTINELS: redisNodes('SLIPWAY_REDIS_SENTINELS').optional(),
  SLIPWAY_REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'SLIPWAY_REDIS_SENTINEL_NAME must be the master name the sentinels monitor (letters, digits, . _ -)')
    .optional(),
  SLIPWAY_REDIS_CLUSTER: redisNodes('SLIPWAY_REDIS_CLUSTER').optional(),
  SLIPWAY_REDIS_WAIT_REPLICAS: z.coerce
    .number({ error: 'SLIPWAY_REDIS_WAIT_REPLICAS must be a number' })
    .int('SLIPWAY_REDIS_WAIT_REPLICAS must be a whole number')
    .min(0, 'SLIPWAY_REDIS_WAIT_REPLICAS must be at least 0')
    .max(16, 'SLIPWAY_REDIS_WAIT_REPLICAS must be at most 16')
    .optional(),
  SLIPWAY_REDIS_WAIT_MS: intFrom('SLIPWAY_REDIS_WAIT_MS', 1_000, 10, 60_000),
  SLIPWAY_REDIS_PASSWORD: z.string().min(1, 'SLIPWAY_REDIS_PASSWORD must not be empty (unset it for no password)').optional(),
  SLIPWAY_REDIS_PREFIX: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'SLIPWAY_REDIS_PREFIX must be lowercase letters, digits, _ and - (at most 40)')
    .default('slipway'),
  SLIPWAY_DATA_DIR: z.string().default('.slipway'),
  SLIPWAY_WORKSPACE_DIR: z.string().optional(),
  SLIPWAY_API_TOKEN: z.string().min(16, 'SLIPWAY_API_TOKEN must be at least 16 characters').optional(),
  SLIPWAY_METRICS_TOKEN: z.string().min(16, 'SLIPWAY_METRICS_TOKEN must be at least 16 characters').optional(),
  SLIPWAY_METRICS_PORT: z.coerce
    .number({ error: 'SLIPWAY_METRICS_PORT must be a number' })
    .int('SLIPWAY_METRICS_PORT must be a whole number')
    .min(0, 'SLIPWAY_METRICS_PORT must be at least 0')
    .max(65535, 'SLIPWAY_METRICS_PORT must be at most 65535')
    .optional(),
  SLIPWAY_VARIABLES_KEY: z
    .string()
    .regex(/^([0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/, 'SLIPWAY_VARIABLES_KEY must be 32 bytes as 64 hex characters or base64')
    .optional(),
  SLIPWAY_WEBHOOK_SECRET: z.string().min(8, 'SLIPWAY_WEBHOOK_SECRET must be at least 8 characters').optional(),
  SLIPWAY_WEBHOOK_PROJECT_SECRETS: secretMap.optional(),
  SLIPWAY_WEBHOOK_SIGNING_SECRET: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/=]+$/, 'SLIPWAY_WEBHOOK_SIGNING_SECRET must look like whsec_<base64>')
    .optional(),
  SLIPWAY_WEBHOOK_MAX_BYTES: intFrom('SLIPWAY_WEBHOOK_MAX_BYTES', 25 * 1024 * 1024, 1024, 100 * 1024 * 1024),
  GITLAB_URL: urlFrom('GITLAB_URL'),
  GITLAB_TOKEN: z.string({ error: 'GITLAB_TOKEN is required (a token with api scope)' }).min(1, 'GITLAB_TOKEN is required'),
  SLIPWAY_GIT_BASE_URL: urlFrom('SLIPWAY_GIT_BASE_URL').optional(),
  DOCKER_HOST: z
    .string()
    .regex(/^unix:\/\//, 'DOCKER_HOST must be a unix:// socket')
    .default('unix:///run/slipway-docker.sock'),
  SLIPWAY_IMAGE_BUILDER: z.enum(['buildkit', 'classic'], { error: 'SLIPWAY_IMAGE_BUILDER must be buildkit or classic' }).default('buildkit'),
  SLIPWAY_IMAGE_PUSH: z.enum(['slipway', 'engine'], { error: 'SLIPWAY_IMAGE_PUSH must be slipway or engine' }).default('slipway'),
  SLIPWAY_REGISTRY: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d+)?$/, 'SLIPWAY_REGISTRY must be host[:port]')
    .default('127.0.0.1:5050'),
  SLIPWAY_REGISTRY_USERNAME: z.string().optional(),
  SLIPWAY_REGISTRY_PASSWORD: z.string().optional(),
  SLIPWAY_PROMOTE_ATTEMPTS: intFrom('SLIPWAY_PROMOTE_ATTEMPTS', 3, 1, 10),
  SLIPWAY_PROMOTE_BACKOFF_MS: intFrom('SLIPWAY_PROMOTE_BACKOFF_MS', 5_000, 1, 300_000),
  SLIPWAY_PROMOTE_TIMEOUT_MS: intFrom('SLIPWAY_PROMOTE_TIMEOUT_MS', 15 * 60_000, 1_000, 24 * 3_600_000),
  HARBOR_URL: urlFrom('HARBOR_URL').optional(),
  SLIPWAY_PLANNER_CONCURRENCY: intFrom('SLIPWAY_PLANNER_CONCURRENCY', 4, 1, 64),
  SLIPWAY_BUILD_CONCURRENCY: intFrom('SLIPWAY_BUILD_CONCURRENCY', 2, 1, 64),
  SLIPWAY_DEPLOY_CONCURRENCY: intFrom('SLIPWAY_DEPLOY_CONCURRENCY', 2, 1, 64),
  SLIPWAY_BUILDS_PER_PROJECT: intFrom('SLIPWAY_BUILDS_PER_PROJECT', 4, 0, 10_000),
  SLIPWAY_BUILDS_GLOBAL: intFrom('SLIPWAY_BUILDS_GLOBAL', 0, 0, 100_000),
  SLIPWAY_AFFINITY_WAIT_MS: intFrom('SLIPWAY_AFFINITY_WAIT_MS', 5_000, 0, 600_000),
  SLIPWAY_CACHE_DIR: z.string().optional(),
  SLIPWAY_CACHE_MAX_BYTES: intFrom('SLIPWAY_CACHE_MAX_BYTES', 5 * 1024 ** 3, 1024 * 1024, 1024 ** 4),
  SLIPWAY_CACHE_PROJECT_MAX_BYTES: intFrom('SLIPWAY_CACHE_PROJECT_MAX_BYTES', 5 * 1024 ** 3, 1024 * 1024, 1024 ** 4),
  SLIPWAY_STORE_REPOSITORY: z
    .string()
    .regex(
      /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/,
      'SLIPWAY_STORE_REPOSITORY must be a repository path: lowercase letters, digits, separators . _ - and /',
    )
    .default('slipway/store'),
  SLIPWAY_ARTIFACTS_EXPIRE_DAYS: intFrom('SLIPWAY_ARTIFACTS_EXPIRE_DAYS', 30, 0, 36_500),
  SLIPWAY_ARTIFACTS_SWEEP_MS: intFrom('SLIPWAY_ARTIFACTS_SWEEP_MS', 10 * 60_000, 1_000, 24 * 3_600_000),
  SONAR_HOST_URL: urlFrom('SONAR_HOST_URL').optional(),
  SONAR_TOKEN: z.string().min(1).optional(),
  SLIPWAY_SONAR_SCANNER_IMAGE: z.string().min(1).default('sonarsource/sonar-scanner-cli:latest'),
  SLIPWAY_CLUSTERS: clusterMap.optional(),
  SLIPWAY_EXECUTOR: z.enum(['docker', 'kubernetes'], { error: 'SLIPWAY_EXECUTOR must be docker or kubernetes' }).default('docker'),
  SLIPWAY_EXECUTOR_CLUSTER: z.string().min(1).optional(),
  SLIPWAY_EXECUTOR_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'SLIPWAY_EXECUTOR_NAMESPACE must be a Kubernetes namespace name')
    .optional(),
  SLIPWAY_EXECUTOR_HELPER_IMAGE: z.string().min(1).default('busybox:1.36'),
  SLIPWAY_FRONT_PROXY_DIR: z.string().min(1).optional(),
  SLIPWAY_NGINX: z.string().min(1).default('nginx'),
  SLIPWAY_PROMETHEUS_URL: urlFrom('SLIPWAY_PROMETHEUS_URL').optional(),
  SLIPWAY_NOTIFY_TIMEOUT_MS: intFrom('SLIPWAY_NOTIFY_TIMEOUT_MS', 5_000, 100, 60_000),
  SLIPWAY_NOTIFY_RETRIES: intFrom('SLIPWAY_NOTIFY_RETRIES', 3, 0, 10),
  SLIPWAY_NOTIFY_BACKOFF_MS: intFrom('SLIPWAY_NOTIFY_BACKOFF_MS', 1_000, 1, 60_000),
  SLIPWAY_RECONCILE_EVERY_MS: intFrom('SLIPWAY_RECONCILE_EVERY_MS', 300_000, 0, 86_400_000),
  SLIPWAY_RECONCILE_PROJECTS: z
    .string()
    .regex(/^\s*(\d+\s*(,\s*\d+\s*)*)?$/, 'SLIPWAY_RECONCILE_PROJECTS must be project ids separated by commas')
    .default(''),
  SLIPWAY_RECONCILE_BRANCHES: z
    .string()
    .regex(/^[^\s,]*(,[^\s,]+)*$/, 'SLIPWAY_RECONCILE_BRANCHES must be branch names separated by commas (no spaces)')
    .default(''),
  SLIPWAY_RECONCILE_SILENT_AFTER_MS: intFrom('SLIPWAY_RECONCILE_SILENT_AFTER_MS', 3_600_000, 1_000, 30 * 86_400_000),
  SLIPWAY_ADMINS: z
    .string()
    .regex(/^\s*([\w.-]+\s*(,\s*[\w.-]+\s*)*)?$/, 'SLIPWAY_ADMINS must be GitLab usernames separated by commas')
    .default(''),
  SLIPWAY_TRUST_PROXY: z.enum(['true', 'false'], { error: 'SLIPWAY_TRUST_PROXY must be true or false' }).default('false'),
  SLIPWAY_SESSION_HOURS: intFrom('SLIPWAY_SESSION_HOURS', 12, 1, 24 * 30),
  SLIPWAY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Pure: env in, typed config or every problem at once out. Never echoes a value (values may be secrets). */
export function readConfig(env: Record<string, string | undefined>, readFile?: ReadFile): ConfigResult {
  const parsed = envSchema.safeParse(env);
  const channels = readNotifyChannels(env);
  const registries = readRegistries(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.message.startsWith(String(i.path[0])) || i.path.length === 0 ? i.message : `${String(i.path[0])}: ${i.message}`,
    );
    return { ok: false, problems: [...problems, ...channels.problems, ...registries.problems] };
  }
  const e = parsed.data;
  const publicUrl = (e.SLIPWAY_PUBLIC_URL ?? `http://${e.SLIPWAY_HOST}:${e.SLIPWAY_PORT}`).replace(/\/$/, '');
  const oauth = readOAuthConfig(env, { publicUrl, gitlabUrl: e.GITLAB_URL.replace(/\/$/, '') }, readFile);
  const problems: string[] = [...channels.problems, ...registries.problems, ...oauth.problems];
  const projectSecrets = e.SLIPWAY_WEBHOOK_PROJECT_SECRETS ?? {};
  if (!e.SLIPWAY_WEBHOOK_SECRET && Object.keys(projectSecrets).length === 0) {
    problems.push('SLIPWAY_WEBHOOK_SECRET (or SLIPWAY_WEBHOOK_PROJECT_SECRETS) is required: webhooks without a token are refused');
  }
  if ((e.SLIPWAY_REGISTRY_USERNAME === undefined) !== (e.SLIPWAY_REGISTRY_PASSWORD === undefined)) {
    problems.push('SLIPWAY_REGISTRY_USERNAME and SLIPWAY_REGISTRY_PASSWORD must be set together');
  }
  // A token in a URL ends up in git's argv (the process list), in the mirror's config and in
  // error messages; Slipway sends GITLAB_TOKEN in a header instead.
  for (const name of ['GITLAB_URL', 'SLIPWAY_GIT_BASE_URL'] as const) {
    const url = e[name];
    if (url !== undefined && hasUserinfo(url)) {
      problems.push(`${name} must not contain credentials (user:token@): remove them; Slipway sends GITLAB_TOKEN to GitLab and to git in a header`);
    }
  }
  if (e.HARBOR_URL && e.SLIPWAY_REGISTRY_USERNAME === undefined) {
    problems.push('HARBOR_URL needs SLIPWAY_REGISTRY_USERNAME and SLIPWAY_REGISTRY_PASSWORD (the robot account for the Harbor API and pushes)');
  }
  if (e.SLIPWAY_EXECUTOR === 'kubernetes') {
    const known = Object.keys(e.SLIPWAY_CLUSTERS ?? {});
    if (!e.SLIPWAY_EXECUTOR_CLUSTER) problems.push('SLIPWAY_EXECUTOR=kubernetes needs SLIPWAY_EXECUTOR_CLUSTER (a cluster named in SLIPWAY_CLUSTERS)');
    else if (!known.includes(e.SLIPWAY_EXECUTOR_CLUSTER)) {
      problems.push(
        `SLIPWAY_EXECUTOR_CLUSTER names cluster ${e.SLIPWAY_EXECUTOR_CLUSTER}, which SLIPWAY_CLUSTERS does not have (it has ${known.join(', ') || 'none'})`,
      );
    }
  }
  const redisTopology = topologyOf(e, problems);
  if (e.SLIPWAY_REDIS_PASSWORD !== undefined && e.SLIPWAY_REDIS_SENTINELS === undefined && e.SLIPWAY_REDIS_CLUSTER === undefined) {
    problems.push(
      'SLIPWAY_REDIS_PASSWORD is for SLIPWAY_REDIS_SENTINELS or SLIPWAY_REDIS_CLUSTER (REDIS_URL carries its own password: redis://:password@host:port)',
    );
  }
  if (problems.length > 0) return { ok: false, problems };
  const dataDir = path.resolve(e.SLIPWAY_DATA_DIR);
  return {
    ok: true,
    config: {
      http: { host: e.SLIPWAY_HOST, port: e.SLIPWAY_PORT, publicUrl },
      redisUrl: e.REDIS_URL,
      redisTopology,
      redisPassword: e.SLIPWAY_REDIS_PASSWORD,
      redisWait: { replicas: e.SLIPWAY_REDIS_WAIT_REPLICAS ?? (redisTopology ? 1 : 0), timeoutMs: e.SLIPWAY_REDIS_WAIT_MS },
      redisPrefix: redisTopology?.kind === 'cluster' ? `{${e.SLIPWAY_REDIS_PREFIX}}` : e.SLIPWAY_REDIS_PREFIX,
      redisAcceptWeakDurability: e.SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY === 'true',
      dataDir,
      workspaceDir: path.resolve(e.SLIPWAY_WORKSPACE_DIR ?? path.join(dataDir, 'workspace')),
      apiToken: e.SLIPWAY_API_TOKEN,
      metrics: { token: e.SLIPWAY_METRICS_TOKEN, port: e.SLIPWAY_METRICS_PORT },
      variablesKey: e.SLIPWAY_VARIABLES_KEY,
      webhook: {
        secret: e.SLIPWAY_WEBHOOK_SECRET,
        projectSecrets,
        signingSecret: e.SLIPWAY_WEBHOOK_SIGNING_SECRET,
        maxBodyBytes: e.SLIPWAY_WEBHOOK_MAX_BYTES,
      },
      gitlab: { url: e.GITLAB_URL.replace(/\/$/, ''), token: e.GITLAB_TOKEN },
      gitBaseUrl: (e.SLIPWAY_GIT_BASE_URL ?? e.GITLAB_URL).replace(/\/$/, ''),
      dockerHost: e.DOCKER_HOST,
      imageBuilder: e.SLIPWAY_IMAGE_BUILDER,
      imagePush: e.SLIPWAY_IMAGE_PUSH,
      registry: { host: e.SLIPWAY_REGISTRY, username: e.SLIPWAY_REGISTRY_USERNAME, password: e.SLIPWAY_REGISTRY_PASSWORD },
      registries: registries.registries,
      promotion: { attempts: e.SLIPWAY_PROMOTE_ATTEMPTS, backoffMs: e.SLIPWAY_PROMOTE_BACKOFF_MS, timeoutMs: e.SLIPWAY_PROMOTE_TIMEOUT_MS },
      harbor: e.HARBOR_URL ? { url: e.HARBOR_URL.replace(/\/$/, '') } : undefined,
      concurrency: { planner: e.SLIPWAY_PLANNER_CONCURRENCY, build: e.SLIPWAY_BUILD_CONCURRENCY, deploy: e.SLIPWAY_DEPLOY_CONCURRENCY },
      limits: { buildsPerProject: e.SLIPWAY_BUILDS_PER_PROJECT, buildsGlobal: e.SLIPWAY_BUILDS_GLOBAL, affinityWaitMs: e.SLIPWAY_AFFINITY_WAIT_MS },
      cache: {
        dir: path.resolve(e.SLIPWAY_CACHE_DIR ?? path.join(dataDir, 'cache')),
        maxBytes: e.SLIPWAY_CACHE_MAX_BYTES,
        projectMaxBytes: e.SLIPWAY_CACHE_PROJECT_MAX_BYTES,
      },
      store: {
        repository: e.SLIPWAY_STORE_REPOSITORY,
        artifactsExpireMs: e.SLIPWAY_ARTIFACTS_EXPIRE_DAYS === 0 ? null : e.SLIPWAY_ARTIFACTS_EXPIRE_DAYS * 86_400_000,
        sweepEveryMs: e.SLIPWAY_ARTIFACTS_SWEEP_MS,
      },
      sonar: { url: e.SONAR_HOST_URL?.replace(/\/$/, ''), token: e.SONAR_TOKEN, scannerImage: e.SLIPWAY_SONAR_SCANNER_IMAGE },
      kubernetes: { clusters: e.SLIPWAY_CLUSTERS ?? {} },
      executor:
        e.SLIPWAY_EXECUTOR === 'kubernetes'
          ? {
              kind: 'kubernetes',
              cluster: e.SLIPWAY_EXECUTOR_CLUSTER ?? '',
              namespace: e.SLIPWAY_EXECUTOR_NAMESPACE,
              helperImage: e.SLIPWAY_EXECUTOR_HELPER_IMAGE,
            }
          : { kind: 'docker' },
      frontProxy: e.SLIPWAY_FRONT_PROXY_DIR ? { dir: path.resolve(e.SLIPWAY_FRONT_PROXY_DIR), nginx: e.SLIPWAY_NGINX } : undefined,
      prometheus: { url: e.SLIPWAY_PROMETHEUS_URL?.replace(/\/$/, '') },
      notify: {
        channels: channels.channels,
        timeoutMs: e.SLIPWAY_NOTIFY_TIMEOUT_MS,
        retries: e.SLIPWAY_NOTIFY_RETRIES,
        backoffMs: e.SLIPWAY_NOTIFY_BACKOFF_MS,
      },
      reconcile: {
        everyMs: e.SLIPWAY_RECONCILE_EVERY_MS,
        projects: e.SLIPWAY_RECONCILE_PROJECTS.split(',')
          .map((x) => x.trim())
          .filter(Boolean)
          .map(Number),
        branches: e.SLIPWAY_RECONCILE_BRANCHES.split(',').filter(Boolean),
        silentAfterMs: e.SLIPWAY_RECONCILE_SILENT_AFTER_MS,
      },
      ui: {
        admins: e.SLIPWAY_ADMINS.split(',')
          .map((x) => x.trim())
          .filter(Boolean),
        trustProxy: e.SLIPWAY_TRUST_PROXY === 'true',
        sessionTtlSeconds: e.SLIPWAY_SESSION_HOURS * 3600,
        oauth: oauth.oauth,
      },
      logLevel: e.SLIPWAY_LOG_LEVEL,
    },
  };
}

function hasUserinfo(url: string): boolean {
  const u = new URL(url);
  return u.username !== '' || u.password !== '';
}

const NOTIFY_GLOBALS = new Set(['SLIPWAY_NOTIFY_TIMEOUT_MS', 'SLIPWAY_NOTIFY_RETRIES', 'SLIPWAY_NOTIFY_BACKOFF_MS']);
const NOTIFY_SETTING = /^SLIPWAY_NOTIFY_([A-Z0-9][A-Z0-9_]*)_(URL|FORMAT|EVENTS|SECRET)$/;

/**
 * Channels from SLIPWAY_NOTIFY_<NAME>_URL / _FORMAT / _EVENTS / _SECRET: one variable per setting,
 * so a deployment adds a channel without editing a JSON blob that holds every other channel's token.
 * Every problem of every channel is returned, never a value (URLs and secrets are secrets).
 */
function readNotifyChannels(env: Record<string, string | undefined>): { channels: NotifyChannel[]; problems: string[] } {
  const problems: string[] = [];
  const byName = new Map<string, Partial<Record<'URL' | 'FORMAT' | 'EVENTS' | 'SECRET', string>>>();
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith('SLIPWAY_NOTIFY_') || NOTIFY_GLOBALS.has(key) || value === undefined) continue;
    const m = NOTIFY_SETTING.exec(key);
    if (!m?.[1] || !m[2]) {
      problems.push(
        `${key} is not a notification setting: use SLIPWAY_NOTIFY_<NAME>_URL, _FORMAT, _EVENTS or _SECRET (or SLIPWAY_NOTIFY_TIMEOUT_MS, _RETRIES, _BACKOFF_MS)`,
      );
      continue;
    }
    const entry = byName.get(m[1]) ?? {};
    entry[m[2] as 'URL' | 'FORMAT' | 'EVENTS' | 'SECRET'] = value;
    byName.set(m[1], entry);
  }
  const channels: NotifyChannel[] = [];
  for (const [name, s] of [...byName.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const at = `SLIPWAY_NOTIFY_${name}`;
    const before = problems.length;
    if (s.URL === undefined) problems.push(`${at}_URL is required (the channel's incoming webhook URL)`);
    else if (!/^https?:\/\/[^\s]+$/.test(s.URL) || !URL.canParse(s.URL)) problems.push(`${at}_URL must be an absolute http(s) URL`);
    const format = NOTIFY_FORMATS.find((f) => f === s.FORMAT);
    if (s.FORMAT === undefined) problems.push(`${at}_FORMAT is required: ${NOTIFY_FORMATS.join(', ')}`);
    else if (!format) problems.push(`${at}_FORMAT must be one of ${NOTIFY_FORMATS.join(', ')}`);
    const wanted = (s.EVENTS ?? 'all')
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
    const unknown = wanted.filter((w) => w !== 'all' && !NOTIFY_EVENTS.some((k) => k === w));
    if (unknown.length > 0) problems.push(`${at}_EVENTS: unknown event ${unknown.map((u) => `'${u}'`).join(', ')} (known: all, ${NOTIFY_EVENTS.join(', ')})`);
    if (wanted.length === 0) problems.push(`${at}_EVENTS names no event (leave it unset for all)`);
    if (s.SECRET !== undefined && format !== undefined && format !== 'dingtalk')
      problems.push(`${at}_SECRET is only for format dingtalk (its signed requests)`);
    if (s.SECRET !== undefined && s.SECRET.length < 8) problems.push(`${at}_SECRET must be at least 8 characters`);
    if (problems.length > before || !format || s.URL === undefined) continue;
    const events = wanted.includes('all') ? [...NOTIFY_EVENTS] : NOTIFY_EVENTS.filter((k) => wanted.includes(k));
    channels.push({ name: name.toLowerCase(), url: s.URL, format, events, signSecret: s.SECRET });
  }
  return { channels, problems };
}

const REGISTRY_SETTINGS = ['HOST', 'USERNAME', 'PASSWORD', 'PROJECT', 'PROMOTE'] as const;
type RegistrySetting = (typeof REGISTRY_SETTINGS)[number];
const REGISTRY_SETTING = /^SLIPWAY_REGISTRY_([A-Z0-9][A-Z0-9_]*)_([A-Z]+)$/;
const HOST = /^[A-Za-z0-9.-]+(:\d+)?$/;
const HARBOR_PROJECT = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/**
 * Named registries from SLIPWAY_REGISTRY_<NAME>_HOST / _USERNAME / _PASSWORD / _PROJECT / _PROMOTE,
 * one variable per setting as for chat channels: the pipeline file names a registry, the
 * credentials stay here. SLIPWAY_REGISTRY, _USERNAME and _PASSWORD (the push registry) have no
 * name part and are not matched. Every problem is returned, never a value.
 */
function readRegistries(env: Record<string, string | undefined>): { registries: Record<string, NamedRegistry>; problems: string[] } {
  const problems: string[] = [];
  const byName = new Map<string, Partial<Record<RegistrySetting, string>>>();
  for (const [key, value] of Object.entries(env)) {
    const m = REGISTRY_SETTING.exec(key);
    if (!m?.[1] || !m[2] || value === undefined) continue;
    const setting = REGISTRY_SETTINGS.find((x) => x === m[2]);
    if (!setting) {
      problems.push(`${key} is not a registry setting: use SLIPWAY_REGISTRY_<NAME>_${REGISTRY_SETTINGS.join(', _')}`);
      continue;
    }
    const entry = byName.get(m[1]) ?? {};
    entry[setting] = value;
    byName.set(m[1], entry);
  }
  const registries: Record<string, NamedRegistry> = {};
  for (const [name, s] of [...byName.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const at = `SLIPWAY_REGISTRY_${name}`;
    const before = problems.length;
    if (s.HOST === undefined) problems.push(`${at}_HOST is required (the registry's host[:port], as in an image name)`);
    else if (!HOST.test(s.HOST)) problems.push(`${at}_HOST must be host[:port] (no scheme, path or credentials)`);
    if ((s.USERNAME === undefined) !== (s.PASSWORD === undefined)) problems.push(`${at}_USERNAME and ${at}_PASSWORD must be set together`);
    if (s.PROJECT !== undefined && !HARBOR_PROJECT.test(s.PROJECT))
      problems.push(`${at}_PROJECT must be a Harbor project name: lowercase letters, digits and . _ - between them`);
    if (s.PROMOTE !== undefined && s.PROMOTE !== 'true' && s.PROMOTE !== 'false') problems.push(`${at}_PROMOTE must be true or false`);
    if (problems.length > before || s.HOST === undefined) continue;
    registries[name.toLowerCase()] = {
      name: name.toLowerCase(),
      host: s.HOST,
      username: s.USERNAME,
      password: s.PASSWORD,
      project: s.PROJECT,
      promote: s.PROMOTE !== 'false',
    };
  }
  return { registries, problems };
}

/** The parts of a webhook URL that are its token: the whole URL, long path segments, query values. */
function urlSecrets(raw: string): string[] {
  const out = [raw];
  try {
    const u = new URL(raw);
    out.push(...u.pathname.split('/').filter((seg) => seg.length >= 16));
    for (const v of u.searchParams.values()) if (v.length >= 8) out.push(v);
  } catch {
    /* validated at start */
  }
  return out;
}

/** Values that must never appear in a log line, run record or note. */
export function secretsOf(config: SlipwayConfig): string[] {
  return [
    config.gitlab.token,
    config.apiToken,
    config.metrics.token,
    config.variablesKey,
    config.webhook.secret,
    config.webhook.signingSecret,
    config.registry.password,
    config.redisPassword,
    config.sonar.token,
    config.ui.oauth?.secret,
    ...Object.values(config.webhook.projectSecrets),
    ...Object.values(config.registries).map((r) => r.password),
    ...config.notify.channels.flatMap((c) => [...urlSecrets(c.url), c.signSecret]),
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);
}

/** At most one way to reach Redis; a sentinel group needs the master's name. Problems are appended. */
function topologyOf(
  e: {
    REDIS_URL?: string | undefined;
    SLIPWAY_REDIS_SENTINELS?: RedisNode[] | undefined;
    SLIPWAY_REDIS_SENTINEL_NAME?: string | undefined;
    SLIPWAY_REDIS_CLUSTER?: RedisNode[] | undefined;
  },
  problems: string[],
): RedisTopology | undefined {
  const set = (['REDIS_URL', 'SLIPWAY_REDIS_SENTINELS', 'SLIPWAY_REDIS_CLUSTER'] as const).filter((n) => e[n] !== undefined);
  if (set.length > 1) {
    problems.push(`${set.join(' and ')} are both set: Slipway uses one Redis, set only one of them`);
    return undefined;
  }
  if (e.SLIPWAY_REDIS_SENTINELS) {
    if (!e.SLIPWAY_REDIS_SENTINEL_NAME) {
      problems.push('SLIPWAY_REDIS_SENTINELS needs SLIPWAY_REDIS_SENTINEL_NAME (the master name the sentinels monitor, e.g. mymaster)');
      return undefined;
    }
    return { kind: 'sentinel', sentinels: e.SLIPWAY_REDIS_SENTINELS, name: e.SLIPWAY_REDIS_SENTINEL_NAME };
  }
  if (e.SLIPWAY_REDIS_SENTINEL_NAME) problems.push('SLIPWAY_REDIS_SENTINEL_NAME is set without SLIPWAY_REDIS_SENTINELS (the sentinels to ask for that master)');
  if (e.SLIPWAY_REDIS_CLUSTER) return { kind: 'cluster', nodes: e.SLIPWAY_REDIS_CLUSTER };
  return undefined;
}
