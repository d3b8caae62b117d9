import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMasker } from '../../src/logging/mask.js';
import type { Plan, PlannedCommon } from '../../src/planning/plan-types.js';
import { createQueues } from '../../src/queues/queues.js';
import { CorruptRecordError } from '../../src/runs/record-reader.js';
import { RunStore } from '../../src/runs/run-store.js';
import type { JobRecord } from '../../src/runs/types.js';
import type { PipelineRequest } from '../../src/triggers/types.js';
import { eventually } from '../helpers/eventually.js';
import { startHarness, type Harness } from '../helpers/slipway-harness.js';

// Run records on the services' Redis (own prefix): every field read back goes through its schema;
// a corrupt field is an error naming the run and the field, in RunStore, in the API and in a worker.
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390';

// A new SHA each time: one SHA makes one run (the trigger key), and each test wants its own.
const request = (): PipelineRequest => ({
  kind: 'full',
  event: 'push',
  sha: randomBytes(20).toString('hex'),
  ref: 'main',
  before: undefined,
  mergeRequest: undefined,
  actor: 'alice',
  project: { id: 4242, path: 'team/records', defaultBranch: 'main', webUrl: undefined },
});

const common: Omit<PlannedCommon, 'name' | 'stage'> = {
  needs: [],
  artifactsFrom: [],
  when: 'on_success',
  allowFailure: false,
  retry: { max: 0, when: [] },
  interruptible: false,
  timeoutMs: 60_000,
};
// Every job kind and the optional fields, so a field the schema forgot would show as a difference.
const plan: Plan = {
  stages: ['test', 'build', 'deploy'],
  includes: ['ci/common.yml'],
  skipped: [{ name: 'docs', reason: 'rules[0]: changes: docs/** matched nothing' }],
  jobs: [
    {
      ...common,
      kind: 'script',
      name: 'unit',
      stage: 'test',
      image: 'node:22',
      script: ['npm ci', 'npm test'],
      variables: { CI: 'true' },
      cache: [{ key: 'npm', keyFiles: ['package-lock.json'], paths: ['node_modules'], policy: 'pull-push', when: 'on_success' }],
      artifacts: { paths: ['dist'], exclude: [], junit: ['junit.xml'], when: 'always', expireInMs: 3_600_000 },
      coverage: 'Lines: (\\d+)%',
      retry: { max: 2, when: ['script_failure'], exitCodes: [137] },
      allowFailure: { exitCodes: [3] },
      resourceGroup: 'db',
    },
    {
      ...common,
      kind: 'image',
      name: 'image',
      stage: 'build',
      needs: ['unit'],
      build: { image: 'team/records', dockerfile: 'Dockerfile', template: 'node', context: '.', args: {}, tags: ['main'] },
    },
    { ...common, kind: 'sonar', name: 'sonar', stage: 'test', projectKey: 'records', gate: 'required' },
    {
      ...common,
      kind: 'deploy',
      name: 'deploy:pre',
      stage: 'deploy',
      needs: ['image'],
      environment: 'pre',
      service: 'records',
      template: 'docker-service',
      spec: { target: 'docker', port: 8080, health: '/healthz', timeout: '2m', variables: { LOG: 'debug' } },
      approval: { required: 1, groups: ['ops'], users: [] },
      clusters: [],
      strategy: { type: 'canary', steps: [{ setWeight: 20 }, { pauseMs: null }] },
    },
  ],
};

const jobRecords = (): JobRecord[] =>
  plan.jobs.map((j) => ({
    name: j.name,
    kind: j.kind,
    stage: j.stage,
    status: { phase: 'pending', reason: 'waiting for earlier jobs', at: new Date().toISOString() },
    startedAt: undefined,
    finishedAt: undefined,
    exitCode: undefined,
  }));

describe('run records read through their schemas', () => {
  const prefix = `records-${randomBytes(4).toString('hex')}`;
  let redis: Redis;
  let store: RunStore;

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
    store = new RunStore(redis, createMasker([]), prefix);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const newRun = async (): Promise<string> => {
    const { runId, created } = await store.accept(request(), randomBytes(8).toString('hex'), 'delivery-1');
    expect(created).toBe(true);
    await store.setPlan(runId, plan, jobRecords());
    return runId;
  };

  it('reads back exactly what was written: plan, jobs, image, sonar, deployments, log', async () => {
    const req = request();
    const { runId: id } = await store.accept(req, randomBytes(8).toString('hex'), 'delivery-1');
    await store.setPlan(id, plan, jobRecords());
    await store.updateJob(id, 'unit', 'success', 'passed', {
      exitCode: 0,
      attempt: 1,
      coverage: 81.5,
      cache: ['cache hit: npm-1'],
      tests: { passed: 3, failed: 0, skipped: 1, errors: 0, failures: [] },
    });
    await store.setImage(id, { repository: 'r/team/records', tags: ['main'], digest: 'sha256:abc', ref: 'r/team/records@sha256:abc' });
    await store.setSonar(id, { status: 'OK', outcome: 'pass', dashboardUrl: 'http://sonar/dashboard?id=records' });
    await store.addDeployment(id, { environment: 'pre', target: 'docker', url: 'http://pre', image: 'r@sha256:abc', at: 'now' });
    await store.appendLog(id, 'unit', 'stdout', 'hello');
    const run = await store.get(id);
    expect(run?.plan).toEqual(plan);
    expect(run?.request).toEqual(JSON.parse(JSON.stringify(req)));
    expect(run?.jobs.find((j) => j.name === 'unit')).toMatchObject({
      exitCode: 0,
      attempt: 1,
      coverage: 81.5,
      cache: ['cache hit: npm-1'],
      tests: { passed: 3 },
    });
    expect(run?.image?.digest).toBe('sha256:abc');
    expect(run?.sonar?.outcome).toBe('pass');
    expect(run?.deployments.map((d) => d.environment)).toEqual(['pre']);
    // A deployment to several clusters keeps what each cluster ended up running.
    const clusters = [
      { name: 'eu', state: 'healthy' as const, wave: 1, replicas: 3 },
      { name: 'us', state: 'unreachable' as const, wave: 2, replicas: 1, reason: 'us: read deployment: connect ECONNREFUSED; nothing was applied' },
    ];
    await store.addDeployment(id, { environment: 'production', target: 'kubernetes', url: '', image: 'r@sha256:abc', at: 'now', outcome: 'partial', clusters });
    expect((await store.get(id))?.deployments.find((d) => d.environment === 'production')).toMatchObject({ outcome: 'partial', clusters });
    expect((await store.readLog(id)).map((l) => l.line)).toEqual(['hello']);
    expect(await store.get('no-such-run')).toBeNull();
  });

  it('a corrupt plan is an error naming the run, the field, the job and the key; the summary still reads', async () => {
    const id = await newRun();
    const bad = JSON.parse(JSON.stringify(plan)) as { jobs: Array<Record<string, unknown>> };
    bad.jobs[0]!['stage'] = 5;
    await redis.hset(store.keys.run(id), 'plan', JSON.stringify(bad));
    const err = await store.get(id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CorruptRecordError);
    expect(err).toMatchObject({
      runId: id,
      field: 'plan',
      message: `run ${id}: field "plan" is not a valid plan: jobs.unit.stage: expected string, received number`,
    });
    // Readers that never look at the plan (the reporter, lists) are not stopped by it.
    expect((await store.summary(id))?.jobs).toHaveLength(4);
  });

  it('names every kind of field: invalid JSON, a job record, a missing key, a log line', async () => {
    const id = await newRun();
    const key = store.keys.run(id);
    await redis.hset(key, 'status', '{"phase":');
    await expect(store.get(id)).rejects.toThrow(new RegExp(`^run ${id}: field "status" is not valid JSON \\(`));
    await store.setStatus(id, 'running', 'repaired');
    await redis.hset(key, 'job:sonar', JSON.stringify({ name: 'sonar', kind: 'sonar', status: { phase: 'bogus', reason: '', at: '' } }));
    await expect(store.getJob(id, 'sonar')).rejects.toThrow(
      `run ${id}: field "job:sonar" is not a valid job record: stage: expected string (missing); status.phase: expected one of`,
    );
    await expect(store.updateJob(id, 'sonar', 'running', 'go')).rejects.toBeInstanceOf(CorruptRecordError);
    await expect(store.summary(id)).rejects.toThrow('field "job:sonar"');
    await store.appendLog(id, 'unit', 'stdout', 'fine');
    await redis.rpush(store.keys.log(id), JSON.stringify({ t: 'now', job: 'unit', stream: 'tty', line: 'x' }));
    await expect(store.readLog(id)).rejects.toThrow(`run ${id}: log line 1 is not a valid log line: stream: expected one of "stdout"|"stderr"|"system"`);
  });
});

describe('a corrupt run record through the API and a worker', () => {
  const shared = { REDIS_URL, SLIPWAY_REDIS_PREFIX: `records-${randomBytes(4).toString('hex')}` };
  let h: Harness;
  let redis: Redis;

  beforeAll(async () => {
    h = await startHarness({ roles: ['http', 'build'], env: shared });
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await h.stop();
    const keys = await redis.keys(`${shared.SLIPWAY_REDIS_PREFIX}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const corruptRun = async (): Promise<string> => {
    const { store } = h.slipway;
    const { runId } = await store.accept(request(), randomBytes(8).toString('hex'), 'delivery-2');
    await store.setPlan(runId, plan, jobRecords());
    await store.setStatus(runId, 'running', '4 jobs planned');
    const bad = JSON.parse(JSON.stringify(plan)) as { jobs: Array<Record<string, unknown>> };
    bad.jobs[0]!['stage'] = 5;
    await redis.hset(store.keys.run(runId), 'plan', JSON.stringify(bad));
    return runId;
  };

  it('GET /api/runs/:id answers 500 naming the run and the field; the list, which skips plans, still answers', async () => {
    const id = await corruptRun();
    const res = await h.api<Record<string, unknown>>(`/api/runs/${id}`);
    expect(res).toEqual({
      status: 500,
      body: { error: `run ${id}: field "plan" is not a valid plan: jobs.unit.stage: expected string, received number`, run: id, field: 'plan' },
    });
    expect((await h.api<{ runs: Array<{ id: string }> }>('/api/runs')).body.runs.map((r) => r.id)).toContain(id);
    expect(h.logs.some((l) => l.includes('corrupt run record') && l.includes(id))).toBe(true);
  });

  it('a build worker fails the job once with that reason instead of retrying it', async () => {
    const id = await corruptRun();
    const queues = createQueues(redis, () => undefined, shared.SLIPWAY_REDIS_PREFIX);
    try {
      await queues.enqueueBuild({ runId: id, job: 'unit' });
      const reason = `build gave up after 1 attempts: run ${id}: field "plan" is not a valid plan: jobs.unit.stage: expected string, received number`;
      await eventually(async () => expect((await h.slipway.store.summary(id))?.status).toMatchObject({ phase: 'failed', reason }), 20_000);
      expect((await h.slipway.store.getJob(id, 'unit'))?.status).toMatchObject({ phase: 'failed', reason });
      const [failed] = await queues.build.getFailed();
      expect(failed?.attemptsMade).toBe(1);
    } finally {
      await queues.close();
    }
  });
});
