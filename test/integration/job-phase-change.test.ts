import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMasker } from '../../src/logging/mask.js';
import type { Plan } from '../../src/planning/plan-types.js';
import { RunStore } from '../../src/runs/run-store.js';
import type { JobRecord } from '../../src/runs/types.js';
import type { PipelineRequest } from '../../src/triggers/types.js';
import type { CommitStatusInput, GitlabClient } from '../../src/gitlab/client.js';
import { createLogger } from '../../src/logging/logger.js';
import { createReporter } from '../../src/notify/reporter.js';

// A job's phase change is one Redis round trip when this process last saw the job (a compare-and-set
// script), and never loses what another process wrote meanwhile; the commit status is posted from the
// record just written. On the services' Redis, own prefix.
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390';

const request = (): PipelineRequest => ({
  kind: 'full',
  event: 'push',
  sha: randomBytes(20).toString('hex'),
  ref: 'main',
  before: undefined,
  mergeRequest: undefined,
  actor: 'alice',
  project: { id: 4343, path: 'team/phases', defaultBranch: 'main', webUrl: undefined },
});

const plan: Plan = {
  stages: ['test'],
  includes: [],
  skipped: [],
  jobs: [
    {
      kind: 'script',
      name: 'unit',
      stage: 'test',
      needs: [],
      artifactsFrom: [],
      when: 'on_success',
      allowFailure: false,
      retry: { max: 0, when: [] },
      interruptible: false,
      timeoutMs: 60_000,
      image: 'node:22',
      script: ['npm test'],
      variables: {},
      cache: [],
    },
  ],
};

const pending = (): JobRecord => ({
  name: 'unit',
  kind: 'script',
  stage: 'test',
  status: { phase: 'pending', reason: 'waiting for earlier jobs', at: new Date().toISOString() },
  startedAt: undefined,
  finishedAt: undefined,
  exitCode: undefined,
});

describe('a job phase change', () => {
  const prefix = `phases-${randomBytes(4).toString('hex')}`;
  let redis: Redis;
  /** The names of the commands this test's client sent, in order (each is a round trip: none is pipelined here). */
  const sent: string[] = [];

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
    const send = redis.sendCommand.bind(redis);
    redis.sendCommand = (command, stream) => {
      sent.push(command.name.toLowerCase());
      return send(command, stream);
    };
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const newRun = async (store: RunStore): Promise<string> => {
    const { runId } = await store.accept(request(), randomBytes(8).toString('hex'), 'delivery-1');
    await store.setPlan(runId, plan, [pending()]);
    return runId;
  };

  /** The commands sent while `fn` runs. */
  const commandsOf = async (fn: () => Promise<unknown>): Promise<string[]> => {
    sent.length = 0;
    await fn();
    return [...sent];
  };

  it('is one round trip (one script) when this process wrote the job last, two when it has not seen it', async () => {
    const store = new RunStore(redis, createMasker([]), prefix);
    const id = await newRun(store);
    // The first call on a Redis that has not loaded the script yet also sends its text (NOSCRIPT, then EVAL).
    await store.updateJob(id, 'unit', 'pending', 'waiting for earlier jobs');
    expect(await commandsOf(() => store.updateJob(id, 'unit', 'queued', 'waiting for a worker'))).toEqual(['evalsha']);
    expect(await commandsOf(() => store.updateJob(id, 'unit', 'running', 'running in node:22'))).toEqual(['evalsha']);

    // Another process (its own store) has not seen the job: it reads it first, as a plain HGET + HSET did.
    const other = new RunStore(redis, createMasker([]), prefix);
    expect(await commandsOf(() => other.updateJob(id, 'unit', 'success', 'exit 0'))).toEqual(['hget', 'evalsha']);
    expect((await store.getJob(id, 'unit'))?.status.phase).toBe('success');
  });

  it('computes the change from what another process wrote meanwhile, never from the stale copy', async () => {
    const scheduler = new RunStore(redis, createMasker([]), prefix);
    const worker = new RunStore(redis, createMasker([]), prefix);
    const id = await newRun(scheduler);
    await scheduler.updateJob(id, 'unit', 'queued', 'waiting for a worker');
    const running = await worker.updateJob(id, 'unit', 'running', 'running in node:22', { attempt: 2, cache: ['cache hit: npm-1'] });
    // The scheduler's copy says "queued": its write must keep the worker's attempt, cache and start time.
    const done = await scheduler.updateJob(id, 'unit', 'failed', 'exit 1', { exitCode: 1 });
    const stored = await worker.getJob(id, 'unit');
    expect(stored).toEqual(done);
    expect(stored).toMatchObject({ attempt: 2, cache: ['cache hit: npm-1'], exitCode: 1, startedAt: running?.startedAt, status: { phase: 'failed' } });
    expect(stored?.finishedAt).toBeDefined();
  });

  it('takes a job out of the approvals waiting when it leaves manual, even when this process last saw it pending', async () => {
    const scheduler = new RunStore(redis, createMasker([]), prefix);
    const api = new RunStore(redis, createMasker([]), prefix);
    const id = await newRun(scheduler);
    await api.updateJob(id, 'unit', 'manual', 'waiting for an approval');
    await api.awaitingApproval(id, 'unit');
    expect(await scheduler.waitingApprovals()).toContainEqual(expect.objectContaining({ runId: id, job: 'unit' }));
    await scheduler.updateJob(id, 'unit', 'queued', 'approved by alice; waiting for a worker');
    expect(await scheduler.waitingApprovals()).not.toContainEqual(expect.objectContaining({ runId: id, job: 'unit' }));
  });

  it('changes nothing for a job the run does not have', async () => {
    const store = new RunStore(redis, createMasker([]), prefix);
    const id = await newRun(store);
    expect(await store.updateJob(id, 'nope', 'running', 'x')).toBeUndefined();
    expect(await store.resetJob(id, 'nope', 'x')).toBeUndefined();
    expect(await redis.hexists(store.keys.run(id), 'job:nope')).toBe(0);
  });

  it('is reported to GitLab from the record just written without reading the run; otherwise by reading that one job', async () => {
    const store = new RunStore(redis, createMasker([]), prefix);
    const id = await newRun(store);
    const posts: Array<{ sha: string } & CommitStatusInput> = [];
    const gitlab = {
      setCommitStatus: async (_project: number, sha: string, s: CommitStatusInput) => {
        posts.push({ sha, ...s });
      },
    } as Partial<GitlabClient> as GitlabClient;
    const logger = createLogger({ level: 'silent', mask: createMasker([]) });
    const reporter = createReporter({ gitlab, store, publicUrl: 'http://slipway.test', logger, outbox: { mergeRequestNote: async () => {} } });
    const run = await store.get(id);
    if (!run) throw new Error('run not stored');

    const running = await store.updateJob(id, 'unit', 'running', 'running in node:22');
    expect(await commandsOf(() => reporter.jobChanged(id, 'unit', running && { run, job: running }))).toEqual([]);
    await store.updateJob(id, 'unit', 'success', 'exit 0');
    // Not the whole run with its plan (HGETALL): the job, the run's request and deployments.
    expect(await commandsOf(() => reporter.jobChanged(id, 'unit'))).toEqual(['hmget']);
    expect(posts).toEqual([
      {
        sha: run.request.sha,
        state: 'running',
        name: 'slipway/unit',
        ref: 'main',
        targetUrl: `http://slipway.test/runs/${id}`,
        description: 'running in node:22',
      },
      { sha: run.request.sha, state: 'success', name: 'slipway/unit', ref: 'main', targetUrl: `http://slipway.test/runs/${id}`, description: 'exit 0' },
    ]);
  });
});
