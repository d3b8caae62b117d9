import { z } from 'zod';
import path from 'node:path';

/** Everything Slipway reads from its environment, parsed once at start. */
export interface SlipwayConfig {
  http: { host: string; port: number; publicUrl: string };
  /** Unset: Slipway starts its own redis-server under dataDir (the embedded default). */
  redisUrl: string | undefined;
  /** Prefix of every Redis key (queues, records, locks): several Slipways can share one Redis. */
  redisPrefix: string;
  /**
   * Run on an external Redis that may lose acknowledged events or evict keys (or whose settings
   * cannot be read): reported by /readyz and the logs instead of refusing to start.
   */
  redisAcceptWeakDurability: boolean;
  dataDir: string;
  workspaceDir: string;
  apiToken: string | undefined;
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
  registry: { host: string; username: string | undefined; password: string | undefined };
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
  logLevel: string;
}

export type ConfigResult = { ok: true; config: SlipwayConfig } | { ok: false; problems: string[] };

const intFrom = (name: string, def: number, min: number, max: number) =>
  z.coerce.number({ error: `${name} must be a number` }).int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`).default(def);

const urlFrom = (name: string) => z.url({ error: `${name} must be an absolute URL` });

const secretMap = z.string().transform((raw, ctx) => {
  try {
    const parsed = z.record(z.string(), z.string().min(8)).safeParse(JSON.parse(raw));
    if (parsed.success) return parsed.data;
  } catch { /* reported below */ }
  ctx.addIssue({ code: 'custom', message: 'SLIPWAY_WEBHOOK_PROJECT_SECRETS must be a JSON object of "project id or path": "secret (8+ chars)"' });
  return z.NEVER;
});

const CLUSTERS_FORMAT = 'SLIPWAY_CLUSTERS must be name=kubeconfig-path pairs separated by commas (names: lowercase letters, digits and -), e.g. pre=/etc/slipway/pre.kubeconfig,prod-a=/etc/slipway/prod-a.kubeconfig';
const clusterMap = z.string().transform((raw, ctx) => {
  const out: Record<string, string> = {};
  for (const part of raw.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
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
  REDIS_URL: z.string().regex(/^rediss?:\/\//, 'REDIS_URL must start with redis:// or rediss://').optional(),
  SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY: z.enum(['true', 'false'], { error: 'SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY must be true or false' }).default('false'),
  SLIPWAY_REDIS_PREFIX: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, 'SLIPWAY_REDIS_PREFIX must be lowercase letters, digits, _ and - (at most 40)').default('slipway'),
  SLIPWAY_DATA_DIR: z.string().default('.slipway'),
  SLIPWAY_WORKSPACE_DIR: z.string().optional(),
  SLIPWAY_API_TOKEN: z.string().min(16, 'SLIPWAY_API_TOKEN must be at least 16 characters').optional(),
  SLIPWAY_VARIABLES_KEY: z.string().regex(/^([0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/, 'SLIPWAY_VARIABLES_KEY must be 32 bytes as 64 hex characters or base64').optional(),
  SLIPWAY_WEBHOOK_SECRET: z.string().min(8, 'SLIPWAY_WEBHOOK_SECRET must be at least 8 characters').optional(),
  SLIPWAY_WEBHOOK_PROJECT_SECRETS: secretMap.optional(),
  SLIPWAY_WEBHOOK_SIGNING_SECRET: z.string().regex(/^whsec_[A-Za-z0-9+/=]+$/, 'SLIPWAY_WEBHOOK_SIGNING_SECRET must look like whsec_<base64>').optional(),
  SLIPWAY_WEBHOOK_MAX_BYTES: intFrom('SLIPWAY_WEBHOOK_MAX_BYTES', 25 * 1024 * 1024, 1024, 100 * 1024 * 1024),
  GITLAB_URL: urlFrom('GITLAB_URL'),
  GITLAB_TOKEN: z.string({ error: 'GITLAB_TOKEN is required (a token with api scope)' }).min(1, 'GITLAB_TOKEN is required'),
  SLIPWAY_GIT_BASE_URL: urlFrom('SLIPWAY_GIT_BASE_URL').optional(),
  DOCKER_HOST: z.string().regex(/^unix:\/\//, 'DOCKER_HOST must be a unix:// socket').default('unix:///run/slipway-docker.sock'),
  SLIPWAY_IMAGE_BUILDER: z.enum(['buildkit', 'classic'], { error: 'SLIPWAY_IMAGE_BUILDER must be buildkit or classic' }).default('buildkit'),
  SLIPWAY_REGISTRY: z.string().regex(/^[A-Za-z0-9.-]+(:\d+)?$/, 'SLIPWAY_REGISTRY must be host[:port]').default('127.0.0.1:5050'),
  SLIPWAY_REGISTRY_USERNAME: z.string().optional(),
  SLIPWAY_REGISTRY_PASSWORD: z.string().optional(),
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
  SLIPWAY_STORE_REPOSITORY: z.string().regex(/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/, 'SLIPWAY_STORE_REPOSITORY must be a repository path: lowercase letters, digits, separators . _ - and /').default('slipway/store'),
  SLIPWAY_ARTIFACTS_EXPIRE_DAYS: intFrom('SLIPWAY_ARTIFACTS_EXPIRE_DAYS', 30, 0, 36_500),
  SLIPWAY_ARTIFACTS_SWEEP_MS: intFrom('SLIPWAY_ARTIFACTS_SWEEP_MS', 10 * 60_000, 1_000, 24 * 3_600_000),
  SONAR_HOST_URL: urlFrom('SONAR_HOST_URL').optional(),
  SONAR_TOKEN: z.string().min(1).optional(),
  SLIPWAY_SONAR_SCANNER_IMAGE: z.string().min(1).default('sonarsource/sonar-scanner-cli:latest'),
  SLIPWAY_CLUSTERS: clusterMap.optional(),
  SLIPWAY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

/** Pure: env in, typed config or every problem at once out. Never echoes a value (values may be secrets). */
export function readConfig(env: Record<string, string | undefined>): ConfigResult {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    return { ok: false, problems: parsed.error.issues.map((i) => i.message.startsWith(String(i.path[0])) || i.path.length === 0 ? i.message : `${String(i.path[0])}: ${i.message}`) };
  }
  const e = parsed.data;
  const problems: string[] = [];
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
  if (problems.length > 0) return { ok: false, problems };
  const dataDir = path.resolve(e.SLIPWAY_DATA_DIR);
  const publicUrl = (e.SLIPWAY_PUBLIC_URL ?? `http://${e.SLIPWAY_HOST}:${e.SLIPWAY_PORT}`).replace(/\/$/, '');
  return {
    ok: true,
    config: {
      http: { host: e.SLIPWAY_HOST, port: e.SLIPWAY_PORT, publicUrl },
      redisUrl: e.REDIS_URL,
      redisPrefix: e.SLIPWAY_REDIS_PREFIX,
      redisAcceptWeakDurability: e.SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY === 'true',
      dataDir,
      workspaceDir: path.resolve(e.SLIPWAY_WORKSPACE_DIR ?? path.join(dataDir, 'workspace')),
      apiToken: e.SLIPWAY_API_TOKEN,
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
      registry: { host: e.SLIPWAY_REGISTRY, username: e.SLIPWAY_REGISTRY_USERNAME, password: e.SLIPWAY_REGISTRY_PASSWORD },
      harbor: e.HARBOR_URL ? { url: e.HARBOR_URL.replace(/\/$/, '') } : undefined,
      concurrency: { planner: e.SLIPWAY_PLANNER_CONCURRENCY, build: e.SLIPWAY_BUILD_CONCURRENCY, deploy: e.SLIPWAY_DEPLOY_CONCURRENCY },
      limits: { buildsPerProject: e.SLIPWAY_BUILDS_PER_PROJECT, buildsGlobal: e.SLIPWAY_BUILDS_GLOBAL, affinityWaitMs: e.SLIPWAY_AFFINITY_WAIT_MS },
      cache: { dir: path.resolve(e.SLIPWAY_CACHE_DIR ?? path.join(dataDir, 'cache')), maxBytes: e.SLIPWAY_CACHE_MAX_BYTES, projectMaxBytes: e.SLIPWAY_CACHE_PROJECT_MAX_BYTES },
      store: {
        repository: e.SLIPWAY_STORE_REPOSITORY,
        artifactsExpireMs: e.SLIPWAY_ARTIFACTS_EXPIRE_DAYS === 0 ? null : e.SLIPWAY_ARTIFACTS_EXPIRE_DAYS * 86_400_000,
        sweepEveryMs: e.SLIPWAY_ARTIFACTS_SWEEP_MS,
      },
      sonar: { url: e.SONAR_HOST_URL?.replace(/\/$/, ''), token: e.SONAR_TOKEN, scannerImage: e.SLIPWAY_SONAR_SCANNER_IMAGE },
      kubernetes: { clusters: e.SLIPWAY_CLUSTERS ?? {} },
      logLevel: e.SLIPWAY_LOG_LEVEL,
    },
  };
}

function hasUserinfo(url: string): boolean {
  const u = new URL(url);
  return u.username !== '' || u.password !== '';
}

/** Values that must never appear in a log line, run record or note. */
export function secretsOf(config: SlipwayConfig): string[] {
  return [
    config.gitlab.token,
    config.apiToken,
    config.variablesKey,
    config.webhook.secret,
    config.webhook.signingSecret,
    config.registry.password,
    config.sonar.token,
    ...Object.values(config.webhook.projectSecrets),
  ].filter((s): s is string => typeof s === 'string' && s.length > 0);
}
