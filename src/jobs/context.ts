import type Dockerode from 'dockerode';
import type { Cluster, Redis } from 'ioredis';
import type { SlipwayConfig } from '../config/config.js';
import type { Executor } from '../executors/types.js';
import type { GitlabClient } from '../gitlab/client.js';
import type { Logger } from '../logging/logger.js';
import type { Reporter } from '../notify/reporter.js';
import type { Queues } from '../queues/queues.js';
import type { RunStore } from '../runs/run-store.js';
import type { VariableStore } from '../variables/variable-store.js';
import type { EnvironmentConfigStore } from '../variables/environment-config.js';
import type { MirrorAffinity } from '../git/mirror-affinity.js';

/** What jobs count for /metrics (the process's registry, wired by roles/shared.ts). */
export interface JobMetrics {
  /** kind: plan or the job's kind; outcome: success, failed, canceled. */
  jobFinished(kind: string, outcome: string, seconds: number): void;
  deployFinished(environment: string, outcome: string): void;
  rolledBack(environment: string): void;
  analysisAborted(environment: string): void;
}

/** What every job handler gets: the clients it needs, no module-level singletons (Probot's habit). */
export interface JobContext {
  config: SlipwayConfig;
  store: RunStore;
  queues: Queues;
  gitlab: GitlabClient;
  reporter: Reporter;
  docker: Dockerode;
  executor: Executor;
  logger: Logger;
  /** For locks and other coordination between workers (the worker connection). */
  redis: Redis | Cluster;
  /** Project and environment variables (secrets), decrypted per job. */
  variables: VariableStore;
  /** Environment config set through the API (plain values, the pods' environment); absent: none. */
  environmentConfig?: EnvironmentConfigStore;
  /** Warm mirror affinity between worker nodes (absent: no preference). */
  affinity?: MirrorAffinity;
  metrics: JobMetrics;
}
