import type { Server } from 'node:http';
import Dockerode from 'dockerode';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { secretsOf, type SlipwayConfig } from './config/config.js';
import { resolveApiToken, resolveVariablesKey } from './api-token.js';
import { VariableStore } from './variables/variable-store.js';
import { parseKey } from './variables/crypto.js';
import { createPlanApi } from './http/plan-api.js';
import { createVariablesApi } from './http/variables-api.js';
import { connectRedis, whenReady, type RedisTarget } from './embedded/redis-connection.js';
import { startEmbeddedRedis, type EmbeddedRedis } from './embedded/redis-server.js';
import { messageOf } from './errors/errors.js';
import { createDockerExecutor } from './executors/docker-executor.js';
import { createGitlabClient } from './gitlab/client.js';
import { createApp } from './http/app.js';
import type { JobContext } from './jobs/context.js';
import { createLogger, type Logger } from './logging/logger.js';
import { createMasker } from './logging/mask.js';
import { createReporter } from './notify/reporter.js';
import { planRun } from './planner/plan-run.js';
import { runPipelineJob } from './build-queue/run-pipeline-job.js';
import { MirrorAffinity, nodeIdOf } from './git/mirror-affinity.js';
import { finishJob } from './scheduler/finish-job.js';
import { runDeployJob } from './deploy/run-deploy-job.js';
import { QUEUE_NAMES, type BuildJob, type DeployJob, type PlanJob } from './queues/names.js';
import { createQueues } from './queues/queues.js';
import { CorruptRecordError } from './runs/record-reader.js';
import { RunStore } from './runs/run-store.js';

export type Role = 'http' | 'planner' | 'build' | 'deploy';
export const ALL_ROLES: readonly Role[] = ['http', 'planner', 'build', 'deploy'];

export interface Slipway {
  url: string | undefined;
  apiToken: string;
  apiTokenFile: string | undefined;
  store: RunStore;
  logger: Logger;
  stop(): Promise<void>;
}

const RECONCILE_EVERY_MS = 30_000;
const DEPLOY_LOCK_RETRY_MS = 3_000;

/**
 * Starts the roles asked for in this process. `src/main.ts` runs them all (the embedded default);
 * workers/ entrypoints run one each. Everything shared lives in Redis, so any number of processes
 * can serve the same queues.
 */
export async function startSlipway(config: SlipwayConfig, roles: readonly Role[] = ALL_ROLES, opts: { logDestination?: NodeJS.WritableStream; reconcileEveryMs?: number } = {}): Promise<Slipway> {
  const apiToken = resolveApiToken(config.apiToken, config.dataDir);
  const mask = createMasker([...secretsOf(config), apiToken.token, resolveVariablesKey(config.variablesKey, config.dataDir).token]);
  const logger = createLogger({ level: config.logLevel, mask, ...(opts.logDestination ? { destination: opts.logDestination } : {}) });

  let embedded: EmbeddedRedis | undefined;
  let target: RedisTarget;
  if (config.redisUrl) {
    target = { url: config.redisUrl };
  } else {
    embedded = await startEmbeddedRedis(config.dataDir, (msg) => logger.info(msg));
    target = { path: embedded.socketPath };
  }
  const redisError = (err: Error) => logger.warn({ err: err.message }, 'redis connection error');
  const workerRedis = connectRedis(target, 'worker', redisError);
  const failFastRedis = connectRedis(target, 'fail-fast', redisError);
  await Promise.all([whenReady(workerRedis), whenReady(failFastRedis)]);
  // BullMQ producers on the fail-fast connection: a webhook is answered 503 at once when Redis is down.
  const queues = createQueues(failFastRedis, (err) => logger.warn({ err: err.message }, 'queue error'), config.redisPrefix);
  const store = new RunStore(failFastRedis, mask, config.redisPrefix);
  const workerStore = new RunStore(workerRedis, mask, config.redisPrefix);
  const gitlab = createGitlabClient({ url: config.gitlab.url, token: config.gitlab.token });
  const docker = new Dockerode({ socketPath: config.dockerHost.replace(/^unix:\/\//, '') });
  const reporter = createReporter({ gitlab, store: workerStore, publicUrl: config.http.publicUrl, logger });
  const variablesKey = resolveVariablesKey(config.variablesKey, config.dataDir);
  const variables = new VariableStore(workerRedis, parseKey(variablesKey.token), config.redisPrefix);
  const workerQueues = createQueues(workerRedis, (err) => logger.warn({ err: err.message }, 'queue error'), config.redisPrefix);
  const affinity = new MirrorAffinity(workerRedis, config.redisPrefix, nodeIdOf(config.workspaceDir), config.limits.affinityWaitMs);
  const ctx: JobContext = {
    config, store: workerStore, queues: workerQueues, gitlab, reporter, docker, executor: createDockerExecutor(docker), logger, redis: workerRedis, variables, affinity,
  };

  const workers: Worker[] = [];
  const stoppers: Array<() => Promise<void>> = [];
  const timers: NodeJS.Timeout[] = [];
  // Workers get the worker connection; BullMQ duplicates it for its blocking reads.
  const connectionFor = workerRedis;

  if (roles.includes('planner')) {
    workers.push(watchFailures(ctx, new Worker<PlanJob>(QUEUE_NAMES.events, async (job) => failCorrupt(() => planRun(ctx, job.data.runId)), {
      connection: connectionFor, prefix: config.redisPrefix, concurrency: config.concurrency.planner,
    })));
    const every = opts.reconcileEveryMs ?? RECONCILE_EVERY_MS;
    const reconcile = async () => {
      // A crash between storing a run and queueing it leaves it "received": queue it again (idempotent by job id).
      for (const runId of await workerStore.staleReceived(every)) {
        logger.warn({ run: runId }, 'run was stored but never queued; queueing it now');
        await workerQueues.enqueuePlan({ runId });
      }
    };
    timers.push(setInterval(() => void reconcile().catch((err: unknown) => logger.warn({ err }, 'reconcile failed')), every));
  }
  if (roles.includes('build')) {
    const stopHeartbeat = affinity.startHeartbeat();
    stoppers.push(async () => stopHeartbeat());
    workers.push(watchFailures(ctx, new Worker<BuildJob>(QUEUE_NAMES.build, async (job, token, signal) => {
      const result = await failCorrupt(() => runPipelineJob(ctx, job.data.runId, job.data.job, job.timestamp, signal));
      if (!result.done) {
        // A limit is full or another node holds the mirror: wait without spending an attempt; the record says why.
        await job.moveToDelayed(Date.now() + result.retryInMs, token);
        throw new DelayedError();
      }
    }, {
      connection: connectionFor, prefix: config.redisPrefix, concurrency: config.concurrency.build, lockDuration: 60_000,
    })));
  }
  if (roles.includes('deploy')) {
    workers.push(watchFailures(ctx, new Worker<DeployJob>(QUEUE_NAMES.deploy, async (job, token) => {
      const outcome = await failCorrupt(() => runDeployJob(ctx, job.data.runId, job.data.environment));
      if (!outcome.done) {
        // The environment is busy: wait without spending an attempt (BullMQ's DelayedError pattern).
        await job.moveToDelayed(Date.now() + DEPLOY_LOCK_RETRY_MS, token);
        throw new DelayedError();
      }
    }, { connection: connectionFor, prefix: config.redisPrefix, concurrency: config.concurrency.deploy })));
  }

  let server: Server | undefined;
  let url: string | undefined;
  if (roles.includes('http')) {
    const app = createApp({
      store,
      routers: [
        createPlanApi({ gitlab, logger }),
        createVariablesApi({ store: new VariableStore(failFastRedis, parseKey(variablesKey.token), config.redisPrefix), logger }),
      ],
      redis: failFastRedis,
      apiToken: apiToken.token,
      logger,
      webhook: {
        secrets: { global: config.webhook.secret, perProject: config.webhook.projectSecrets },
        signingSecret: config.webhook.signingSecret,
        maxBodyBytes: config.webhook.maxBodyBytes,
        logger,
        async accept(request, dedupeKey, deliveryId) {
          const { runId, created } = await store.accept(request, dedupeKey, deliveryId);
          if (!created) {
            // A resend of a delivery we stored but may not have queued (crash in between): queue it now.
            const run = await store.get(runId);
            if (run?.status.phase === 'received') await queues.enqueuePlan({ runId });
            return { runId, duplicate: true };
          }
          await queues.enqueuePlan({ runId });
          return { runId, duplicate: false };
        },
      },
    });
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(config.http.port, config.http.host, () => resolve(s));
      s.once('error', reject);
    });
    const addr = server.address();
    url = typeof addr === 'object' && addr ? `http://${config.http.host}:${addr.port}` : undefined;
    logger.info({ url, roles }, 'slipway listening');
  }

  let stopped = false;
  return {
    url,
    apiToken: apiToken.token,
    apiTokenFile: apiToken.file,
    store,
    logger,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Order matters: stop taking webhooks, let running jobs finish, close queues, then Redis.
      for (const t of timers) clearInterval(t);
      for (const stopOne of stoppers) await stopOne();
      if (server) {
        const s = server;
        await new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        });
      }
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all([queues.close(), workerQueues.close()]);
      await Promise.all([quit(workerRedis), quit(failFastRedis)]);
      if (embedded) await embedded.stop();
    },
  };
}

/** When BullMQ gives up on a job, the run must say so instead of staying "running" forever. */
function watchFailures<T extends { runId: string; job?: string; environment?: string }>(ctx: JobContext, worker: Worker<T>): Worker<T> {
  worker.on('failed', (job: Job<T> | undefined, err: Error) => {
    if (!job || err instanceof DelayedError || err.name === 'DelayedError') return;
    const attempts = job.opts.attempts ?? 1;
    const final = job.attemptsMade >= attempts || err.name === 'UnrecoverableError';
    ctx.logger.warn({ run: job.data.runId, queue: worker.name, attempt: job.attemptsMade, final, err: messageOf(err) }, 'job attempt failed');
    if (!final) return;
    void (async () => {
      const reason = `${worker.name} gave up after ${job.attemptsMade} attempts: ${messageOf(err)}`;
      const name = job.data.job ?? (job.data.environment ? `deploy:${job.data.environment}` : undefined);
      const run = await ctx.store.get(job.data.runId).catch(async (e: unknown) => {
        if (!(e instanceof CorruptRecordError)) throw e;
        // The record cannot be read whole: write what can be written without reading it, so the
        // run says failed and why instead of staying "running". GitLab is not told (that needs the record).
        if (name) await ctx.store.updateJob(job.data.runId, name, 'failed', reason).catch(() => undefined);
        await ctx.store.setStatus(job.data.runId, 'failed', reason);
        return null;
      });
      if (!run || ['succeeded', 'failed', 'canceled', 'skipped'].includes(run.status.phase)) return;
      const planned = name ? run.plan?.jobs.find((j) => j.name === name) : undefined;
      if (planned) {
        await finishJob(ctx, run.id, planned, { phase: 'failed', reason });
      } else {
        await ctx.store.setStatus(run.id, 'failed', reason);
        await ctx.reporter.runChanged(run.id);
      }
    })().catch((e: unknown) => ctx.logger.error({ err: e }, 'could not record a failed job'));
  });
  worker.on('error', (err) => ctx.logger.error({ err: messageOf(err) }, 'worker error'));
  return worker;
}

/** A corrupt run record is not repaired by retrying: the queue job fails at once, with the record's problem as its reason. */
async function failCorrupt<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof CorruptRecordError) throw new UnrecoverableError(err.message);
    throw err;
  }
}

async function quit(r: Redis): Promise<void> {
  try {
    await r.quit();
  } catch {
    r.disconnect();
  }
}
