import type Dockerode from 'dockerode';
import { resolveApiToken, resolveVariablesKey } from '../api-token.js';
import { secretsOf, type SlipwayConfig } from '../config/config.js';
import { connectRedis, whenReady, type RedisClient, type RedisTarget } from '../embedded/redis-connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from '../embedded/redis-server.js';
import { checkRedisDurability } from '../embedded/redis-durability.js';
import { createDockerExecutor } from '../executors/docker-executor.js';
import type { Executor } from '../executors/types.js';
import { MirrorAffinity, nodeIdOf } from '../git/mirror-affinity.js';
import { createGitlabClient, type GitlabClient } from '../gitlab/client.js';
import type { JobContext } from '../jobs/context.js';
import { createLogger, type Logger } from '../logging/logger.js';
import { createMasker } from '../logging/mask.js';
import { createMetrics, type SlipwayMetrics } from '../metrics/metrics.js';
import { createChatNotifier } from '../notify/chat-notifier.js';
import { createOutbox, type Outbox } from '../notify/outbox.js';
import { createReporter } from '../notify/reporter.js';
import { createQueues, type Queues } from '../queues/queues.js';
import { RunStore } from '../runs/run-store.js';
import { CanaryPauses } from '../runs/canary-pause.js';
import { parseKey } from '../variables/crypto.js';
import { VariableStore } from '../variables/variable-store.js';
import { EnvironmentConfigStore } from '../variables/environment-config.js';

export type Role = 'http' | 'planner' | 'build' | 'deploy';
export const ALL_ROLES: readonly Role[] = ['http', 'planner', 'build', 'deploy'];

/** A started role; slipway.ts stops them in order (HTTP first, then the workers). */
export interface RunningRole {
  stop(): Promise<void>;
}

/**
 * What every role of one process shares: the logger, the two Redis connections, queues, run stores,
 * the GitLab client and the job context. Opened once before any role starts, closed after all of
 * them have stopped.
 */
export interface Shared {
  config: SlipwayConfig;
  logger: Logger;
  apiToken: { token: string; file: string | undefined };
  /** The key that seals project variables. */
  variablesKey: Buffer;
  /** Fails at once when Redis is down: what the HTTP role answers webhooks with (503, not a hang). */
  failFastRedis: RedisClient;
  /** Waits out Redis restarts: what workers block on. */
  workerRedis: RedisClient;
  /** Producers on the fail-fast connection. */
  queues: Queues;
  /** Run records on the fail-fast connection (HTTP). */
  store: RunStore;
  gitlab: GitlabClient;
  docker: Dockerode;
  /** This process's metrics: every role records into them, /metrics renders them. */
  metrics: SlipwayMetrics;
  /** What must be sent (chat, the MR note), kept in Redis until the dispatcher sends it. */
  outbox: Outbox;
  /** The context every job gets, on the worker connection. */
  jobs: JobContext;
  /** Weaker Redis durability accepted by SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY: /readyz reports it. */
  redisWarnings: string[];
  close(): Promise<void>;
}

/**
 * `docker: false`: only the build and deploy roles talk to the Docker engine. `executor`: the seam a
 * benchmark (or a test) uses to run steps without Docker, so what it measures is Slipway's own work;
 * production gets the executor SLIPWAY_EXECUTOR names.
 */
export async function openShared(
  config: SlipwayConfig,
  opts: { logDestination?: NodeJS.WritableStream; docker?: boolean; executor?: Executor } = {},
): Promise<Shared> {
  const apiToken = resolveApiToken(config.apiToken, config.dataDir);
  const variablesKey = resolveVariablesKey(config.variablesKey, config.dataDir);
  const mask = createMasker([...secretsOf(config), apiToken.token, variablesKey.token]);
  const logger = createLogger({ level: config.logLevel, mask, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });

  let embedded: EmbeddedRedis | undefined;
  let target: RedisTarget;
  let redisWarnings: string[] = [];
  const external = externalRedis(config);
  if (external) {
    target = external;
    // Refuses a Redis that may lose acknowledged events or evict keys, unless accepted explicitly.
    redisWarnings = await checkRedisDurability(target, config.redisAcceptWeakDurability);
    if (redisWarnings.length > 0) logger.warn({ warnings: redisWarnings }, 'redis durability is weaker than Slipway needs');
  } else {
    embedded = await startEmbeddedRedis(config.dataDir, (msg) => logger.info(msg));
    target = { path: embedded.socketPath };
  }
  const redisError = (err: Error) => logger.warn({ err: err.message }, 'redis connection error');
  const workerRedis = connectRedis(target, 'worker', redisError);
  const failFastRedis = connectRedis(target, 'fail-fast', redisError);
  await Promise.all([whenReady(workerRedis), whenReady(failFastRedis)]);
  const queueError = (err: Error) => logger.warn({ err: err.message }, 'queue error');
  // BullMQ producers on the fail-fast connection: a webhook is answered 503 at once when Redis is down.
  const queues = createQueues(failFastRedis, queueError, config.redisPrefix);
  const workerQueues = createQueues(workerRedis, queueError, config.redisPrefix);
  // Webhooks are accepted through this store: with replicas, acknowledged only once a replica has the run.
  const replicaWait =
    config.redisWait.replicas > 0
      ? {
          ...config.redisWait,
          onShort: (got: number, want: number) =>
            logger.warn(
              { got, want, timeoutMs: config.redisWait.timeoutMs },
              'run acknowledged before enough replicas had it: a failover now could lose it (SLIPWAY_REDIS_WAIT_REPLICAS)',
            ),
        }
      : undefined;
  const store = new RunStore(failFastRedis, mask, config.redisPrefix, replicaWait);
  const canaryPauses = new CanaryPauses(failFastRedis, config.redisPrefix);
  const workerStore = new RunStore(workerRedis, mask, config.redisPrefix);
  const gitlab = createGitlabClient({ url: config.gitlab.url, token: config.gitlab.token });
  // dockerode (with ssh2 and gRPC) is the largest thing a process loads: an http-only process, which
  // never talks to the engine, starts without it (start-up time, docs/benchmarks.md).
  const docker = opts.docker === false ? noDocker() : new (await import('dockerode')).default({ socketPath: config.dockerHost.replace(/^unix:\/\//, '') });
  const key = parseKey(variablesKey.token);
  // Read at scrape time on the fail-fast connection: a scrape while Redis is down fails fast too.
  const metrics = createMetrics({
    queues: { events: queues.events, build: queues.build, deploy: queues.deploy },
    // Deploy steps waiting as `manual` and canaries waiting at a `pause: {}`: both wait for an approval.
    approvalsWaiting: async () => {
      const [steps, pauses] = await Promise.all([store.approvalsWaiting(), canaryPauses.waitingCount()]);
      return steps + pauses;
    },
  });
  // What must be sent is kept in Redis first (queue "outbox"); the planner role's dispatcher sends it.
  const outbox = createOutbox(workerRedis, config.redisPrefix, queueError);
  const chat = createChatNotifier({ config: config.notify, outbox, logger });
  const jobs: JobContext = {
    config,
    store: workerStore,
    queues: workerQueues,
    gitlab,
    reporter: createReporter({ gitlab, store: workerStore, publicUrl: config.http.publicUrl, logger, chat, outbox }),
    docker,
    executor: opts.executor ?? (await createExecutor(config, docker)),
    logger,
    redis: workerRedis,
    variables: new VariableStore(workerRedis, key, config.redisPrefix),
    environmentConfig: new EnvironmentConfigStore(workerRedis, config.redisPrefix),
    affinity: new MirrorAffinity(workerRedis, config.redisPrefix, nodeIdOf(config.workspaceDir), config.limits.affinityWaitMs),
    metrics,
  };

  return {
    config,
    logger,
    apiToken,
    variablesKey: key,
    failFastRedis,
    workerRedis,
    queues,
    store,
    gitlab,
    docker,
    metrics,
    outbox,
    jobs,
    redisWarnings,
    async close() {
      // After every role has stopped (what is left to send stays in the outbox): queues, then Redis,
      // then the embedded server.
      await Promise.all([queues.close(), workerQueues.close(), outbox.close()]);
      await Promise.all([quit(workerRedis), quit(failFastRedis)]);
      if (embedded) await embedded.stop();
    },
  };
}

/** The Docker client of a process without the build and deploy roles: any use is a bug, and says so. */
function noDocker(): Dockerode {
  return new Proxy({} as Dockerode, {
    get(_target, prop) {
      // Inspection (util.inspect's symbols, a thenable check) is not use.
      if (typeof prop === 'symbol' || prop === 'then') return undefined;
      throw new Error(`Docker client used (.${String(prop)}) in a process without the build or deploy role; it was not opened`);
    },
  });
}

/** SLIPWAY_EXECUTOR: where script and sonar steps run (the Kubernetes client is loaded only when they run on Kubernetes). */
async function createExecutor(config: SlipwayConfig, docker: Dockerode): Promise<Executor> {
  const e = config.executor;
  if (e.kind === 'docker') return createDockerExecutor(docker);
  const file = config.kubernetes.clusters[e.cluster];
  if (!file) throw new Error(`SLIPWAY_EXECUTOR_CLUSTER: cluster ${e.cluster} is not in SLIPWAY_CLUSTERS`);
  const [{ clusterFromKubeconfigFile }, { createPodExecutor }] = await Promise.all([
    import('../kubernetes/cluster.js'),
    import('../pod-executor/pod-executor.js'),
  ]);
  let cluster: ReturnType<typeof clusterFromKubeconfigFile>;
  try {
    cluster = clusterFromKubeconfigFile(e.cluster, file);
  } catch (err) {
    throw new Error(`SLIPWAY_EXECUTOR_CLUSTER: cluster ${e.cluster}: cannot load the kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return createPodExecutor(cluster, { namespace: e.namespace ?? cluster.namespace, helperImage: e.helperImage });
}

/** REDIS_URL, a Sentinel group or a Cluster; undefined: the embedded one. */
function externalRedis(config: SlipwayConfig): RedisTarget | undefined {
  const t = config.redisTopology;
  if (t?.kind === 'sentinel') return { sentinels: t.sentinels, name: t.name, password: config.redisPassword };
  if (t?.kind === 'cluster') return { cluster: t.nodes, password: config.redisPassword };
  return config.redisUrl ? { url: config.redisUrl } : undefined;
}

/**
 * QUIT, or a plain disconnect when Redis does not answer it within 5 s: a QUIT meant for a node that is
 * gone (a Cluster master after its failover) can wait in the offline queue for a reconnect that never
 * comes, and a stop must end.
 */
async function quit(r: RedisClient): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), 5_000);
  });
  try {
    if ((await Promise.race([r.quit(), deadline])) === 'late') r.disconnect();
  } catch {
    r.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
