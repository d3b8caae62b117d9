import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** A queue as the depth gauge reads it (BullMQ's `Queue#getJobCounts`). */
export interface CountableQueue {
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
}

export interface MetricsSources {
  /** Queues by name: their depth is read at scrape time. */
  queues: Record<string, CountableQueue>;
  /** Deploy jobs waiting for an approval (as a manual step or at a canary's `pause: {}`), read at scrape time. */
  approvalsWaiting(): Promise<number>;
  /** Bound on each read at scrape time, so a slow Redis cannot hang the scrape. */
  readTimeoutMs?: number;
}

/** The queue states reported as depth: what is waiting for a worker, running, parked for later, or given up. */
export const QUEUE_STATES = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;

/** Seconds: a plan takes well under one, a build minutes, a deploy up to its timeout. */
const DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

/**
 * One process's metrics, in a registry of its own (not prom-client's global one): several
 * Slipways in one process (the tests) each have theirs. Every role of the process records into
 * it; `/metrics` renders it. Values read from Redis (queue depth, approvals waiting) are read
 * when scraped, so every process reports the same cluster-wide value for them.
 */
export interface SlipwayMetrics {
  readonly registry: Registry;
  webhookReceived(event: string): void;
  webhookDeduplicated(event: string): void;
  webhookIgnored(event: string): void;
  webhookRejected(reason: string): void;
  /** Time from queueing to the first time a worker took the job. */
  queueWait(queue: string, seconds: number): void;
  /** kind: plan, script, image, sonar, deploy; outcome: success, failed, canceled. */
  jobFinished(kind: string, outcome: string, seconds: number): void;
  deployFinished(environment: string, outcome: string): void;
  /** A release rolled back after a bad verdict or analysis (trigger `automatic`). */
  rolledBack(environment: string): void;
  /** A rollback asked for by a person (API, CLI, web UI; trigger `on_demand`). */
  rollbackRequested(environment: string): void;
  /** A post-deploy analysis that failed and so aborted the deploy. */
  analysisAborted(environment: string): void;
  /** The exposition text and its content type. */
  render(): Promise<{ contentType: string; text: string }>;
}

export function createMetrics(sources: MetricsSources): SlipwayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const readTimeoutMs = sources.readTimeoutMs ?? 2_000;
  const registers = [registry];

  const received = new Counter({
    name: 'slipway_webhooks_received_total',
    help: 'Webhook deliveries received, by X-Gitlab-Event (other: an event Slipway does not know)',
    labelNames: ['event'],
    registers,
  });
  const deduplicated = new Counter({
    name: 'slipway_webhooks_deduplicated_total',
    help: 'Deliveries answered with an existing run (the same delivery or the same commit and kind again)',
    labelNames: ['event'],
    registers,
  });
  const ignored = new Counter({
    name: 'slipway_webhooks_ignored_total',
    help: 'Valid deliveries that start nothing (202 with the reason)',
    labelNames: ['event'],
    registers,
  });
  const rejected = new Counter({
    name: 'slipway_webhooks_rejected_total',
    help: 'Deliveries refused or not stored, by reason',
    labelNames: ['reason'],
    registers,
  });
  const wait = new Histogram({
    name: 'slipway_queue_wait_seconds',
    help: 'Time from queueing a job to the first time a worker took it',
    labelNames: ['queue'],
    buckets: WAIT_BUCKETS,
    registers,
  });
  const duration = new Histogram({
    name: 'slipway_job_duration_seconds',
    help: 'Job run time, by kind (plan, script, image, sonar, deploy) and outcome (success, failed, canceled)',
    labelNames: ['kind', 'outcome'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  const deploys = new Counter({
    name: 'slipway_deploys_total',
    help: 'Finished deploy jobs, by environment and outcome (success, failed, canceled: superseded by a newer run)',
    labelNames: ['environment', 'outcome'],
    registers,
  });
  const rollbacks = new Counter({
    name: 'slipway_rollbacks_total',
    help: 'Rollbacks by environment and trigger: automatic (a failed health verdict or analysis) or on_demand (asked for through the API, CLI or web UI)',
    labelNames: ['environment', 'trigger'],
    registers,
  });
  const analysisAborts = new Counter({
    name: 'slipway_analysis_aborts_total',
    help: 'Deploys aborted (and rolled back) because their post-deploy analysis failed, by environment',
    labelNames: ['environment'],
    registers,
  });
  const readFailures = new Counter({
    name: 'slipway_metrics_read_failures_total',
    help: 'Reads at scrape time that failed or timed out (the gauge then has no sample)',
    labelNames: ['source'],
    registers,
  });

  new Gauge({
    name: 'slipway_queue_jobs',
    help: 'Jobs in each queue by state, read from Redis at scrape time (the same value in every process)',
    labelNames: ['queue', 'state'],
    registers,
    async collect() {
      this.reset();
      await Promise.all(
        Object.entries(sources.queues).map(async ([queue, q]) => {
          try {
            const counts = await withTimeout(q.getJobCounts(...QUEUE_STATES), readTimeoutMs, `queue ${queue}`);
            for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state] ?? 0);
          } catch {
            readFailures.inc({ source: `queue:${queue}` });
          }
        }),
      );
    },
  });
  new Gauge({
    name: 'slipway_approvals_waiting',
    help: 'Deploy jobs waiting for an approval (a step, or a canary at a pause), read from Redis at scrape time (the same value in every process)',
    registers,
    async collect() {
      this.reset();
      try {
        this.set(await withTimeout(sources.approvalsWaiting(), readTimeoutMs, 'approvals'));
      } catch {
        readFailures.inc({ source: 'approvals' });
      }
    },
  });

  return {
    registry,
    webhookReceived: (event) => received.inc({ event }),
    webhookDeduplicated: (event) => deduplicated.inc({ event }),
    webhookIgnored: (event) => ignored.inc({ event }),
    webhookRejected: (reason) => rejected.inc({ reason }),
    queueWait: (queue, seconds) => wait.observe({ queue }, Math.max(0, seconds)),
    jobFinished: (kind, outcome, seconds) => duration.observe({ kind, outcome }, Math.max(0, seconds)),
    deployFinished: (environment, outcome) => deploys.inc({ environment, outcome }),
    rolledBack: (environment) => rollbacks.inc({ environment, trigger: 'automatic' }),
    rollbackRequested: (environment) => rollbacks.inc({ environment, trigger: 'on_demand' }),
    analysisAborted: (environment) => analysisAborts.inc({ environment }),
    async render() {
      return { contentType: registry.contentType, text: await registry.metrics() };
    },
  };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A worker took a queue job: record how long it waited, on its first start only (a job parked by
 * DelayedError or retried after a failure would otherwise count its wait again).
 */
export function observeQueueWait(
  metrics: Pick<SlipwayMetrics, 'queueWait'>,
  queue: string,
  job: { attemptsStarted: number; processedOn?: number | undefined; timestamp: number },
): void {
  if (job.attemptsStarted > 1) return;
  metrics.queueWait(queue, ((job.processedOn ?? Date.now()) - job.timestamp) / 1000);
}
