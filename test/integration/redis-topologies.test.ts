import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { ask, masterOfKey, startRedisCluster, startSentinelGroup, type RedisClusterProcesses, type SentinelGroup } from '../helpers/redis-topologies.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 15: Slipway on a Sentinel group and on a Redis Cluster, started locally by the test
// (Debian's redis-server 7.0): a webhook → plan → job run on each, and a failover during webhook
// traffic with nothing acknowledged lost (every 202 is a run afterwards, and every run is planned).

// `unit` runs on main only: the traffic's pushes go to other branches and are planned as skipped,
// so the failover tests exercise accept → queue → planner without a container per delivery.
const PIPELINE = 'unit:\n  image: slipway/busybox:1\n  script: [echo topology-ok]\n  rules:\n    - if: $SLIPWAY_BRANCH == "main"\n';

async function seedProject(h: Harness, id: number) {
  const project = await h.gitlab.addProject({ id, pathWithNamespace: `team/topology-${id}`, defaultBranch: 'main' });
  const sha = await commitFiles(project.bareDir, 'main', { '.slipway.yml': PIPELINE }, 'add pipeline');
  const push = (branch: string) => {
    const body = fixture('push-hook.json');
    body['project'] = { ...(body['project'] as object), id, path_with_namespace: project.pathWithNamespace, default_branch: 'main' };
    Object.assign(body, { ref: `refs/heads/${branch}`, after: sha, checkout_sha: sha });
    return deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET);
  };
  return { push };
}

/** Sends pushes (distinct branches, so each is its own pipeline) until `stop`, `concurrency` at a time; collects every answer. */
function traffic(push: (branch: string) => Promise<{ status: number; json: Record<string, unknown> }>, concurrency = 4) {
  const answers: { branch: string; status: number; runId: string | undefined }[] = [];
  let stopped = false;
  let n = 0;
  const lane = async () => {
    while (!stopped) {
      const branch = `traffic-${n++}`;
      const res = await push(branch).catch(() => ({ status: 0, json: {} as Record<string, unknown> }));
      answers.push({ branch, status: res.status, runId: typeof res.json['runId'] === 'string' ? res.json['runId'] : undefined });
      if (res.status !== 202) await new Promise((r) => setTimeout(r, 50)); // no hot loop while Redis fails over
    }
  };
  const lanes = Array.from({ length: concurrency }, lane);
  return {
    answers,
    async stop() {
      stopped = true;
      await Promise.all(lanes);
    },
  };
}

/** Every acknowledged delivery is a run, and every one of them reached the planner (skipped = planned, no job on that branch). */
async function expectNothingLost(h: Harness, answers: { status: number; runId: string | undefined }[]) {
  const acked = answers.filter((a) => a.status === 202);
  const statuses = new Map<number, number>();
  for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
  expect(acked.length, `answers by status: ${JSON.stringify([...statuses])}`).toBeGreaterThan(10);
  for (const a of answers) expect([202, 503], `an answer other than 202 or 503: ${a.status}`).toContain(a.status);
  for (const a of acked) {
    expect(a.runId).toBeDefined();
    const run = await h.waitForRun(a.runId ?? '', ['skipped', 'succeeded', 'failed'], 60_000);
    expect(run.status.phase).toBe('skipped');
  }
  return { acked: acked.length, refused: answers.length - acked.length };
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('Slipway on a Redis Sentinel group', () => {
  let group: SentinelGroup;
  let h: Harness;
  beforeAll(async () => {
    group = await startSentinelGroup({ replicas: 2 });
    h = await startHarness({ env: { ...group.env, SLIPWAY_REDIS_PREFIX: `sentinel-${randomBytes(3).toString('hex')}` } });
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
    await group?.stop();
  });

  it('runs a webhook → plan → job run', async () => {
    const { push } = await seedProject(h, 9101);
    const res = await push('main');
    expect(res.status).toBe(202);
    const run = await h.waitForRun(String(res.json['runId']));
    expect(run.status.phase).toBe('succeeded');
    expect(run.jobs.map((j) => [j.name, j.status.phase])).toEqual([['unit', 'success']]);
  }, 120_000);

  it('loses no acknowledged webhook when the master is killed during traffic', async () => {
    const { push } = await seedProject(h, 9102);
    const oldMaster = await group.masterPort();
    const t = traffic(push);
    await waitFor('some webhooks acknowledged before the kill', 20_000, async () =>
      t.answers.filter((a) => a.status === 202).length >= 10 ? true : undefined,
    );
    const killed = [group.master, ...group.replicas].find((n) => n.port === oldMaster);
    await killed?.kill();
    // The sentinels promote a replica (down after 1 s); ioredis follows them to the new master.
    await waitFor('a new master', 30_000, async () => ((await group.masterPort()) !== oldMaster ? true : undefined));
    const before = t.answers.length;
    await waitFor('webhooks acknowledged again after the failover', 30_000, async () =>
      t.answers.slice(before).filter((a) => a.status === 202).length >= 10 ? true : undefined,
    );
    await t.stop();
    const { acked, refused } = await expectNothingLost(h, t.answers);
    console.log(`sentinel failover (master killed): ${acked} acknowledged and found planned, ${refused} answered 503`);
  }, 180_000);
});

describe('Slipway on a Redis Cluster', () => {
  let cluster: RedisClusterProcesses;
  let h: Harness;
  beforeAll(async () => {
    cluster = await startRedisCluster({ replicasPerMaster: 1 });
    h = await startHarness({ env: { ...cluster.env, SLIPWAY_REDIS_PREFIX: `cluster-${randomBytes(3).toString('hex')}` } });
  }, 90_000);
  afterAll(async () => {
    await h?.stop();
    await cluster?.stop();
  });

  it('keeps every key of Slipway and BullMQ in one hash slot and runs a webhook → plan → job run', async () => {
    expect(h.config.redisPrefix).toMatch(/^\{cluster-[0-9a-f]+\}$/);
    const { push } = await seedProject(h, 9201);
    const res = await push('main');
    expect(res.status).toBe(202);
    const run = await h.waitForRun(String(res.json['runId']));
    expect(run.status.phase).toBe('succeeded');
    expect(run.jobs.map((j) => [j.name, j.status.phase])).toEqual([['unit', 'success']]);
    // Every key Slipway wrote (records, indexes, BullMQ's queues) is on the one master of its tag's slot.
    const keysByMaster = await Promise.all(cluster.masters.map((m) => ask(m.port, (r) => r.keys(`${h.config.redisPrefix}*`))));
    const holding = keysByMaster.filter((keys) => keys.length > 0);
    expect(holding).toHaveLength(1);
    expect(holding[0]).toEqual(expect.arrayContaining([`${h.config.redisPrefix}:run:${run.id}`, expect.stringMatching(/^\{cluster-[0-9a-f]+\}:events:/)]));
  }, 120_000);

  it('loses no acknowledged webhook when the master of its slot is killed during traffic', async () => {
    const { push } = await seedProject(h, 9202);
    const owner = await masterOfKey(cluster, `${h.config.redisPrefix}:runs`);
    const t = traffic(push);
    await waitFor('some webhooks acknowledged before the kill', 20_000, async () =>
      t.answers.filter((a) => a.status === 202).length >= 10 ? true : undefined,
    );
    await owner.kill();
    // Its replica takes over after the node timeout (2 s) and the other masters' votes.
    const survivor = cluster.masters.find((m) => m !== owner);
    await waitFor('the cluster to serve the slot again', 30_000, async () => {
      const info = await ask(survivor?.port ?? 0, (r) => r.cluster('INFO'));
      return /cluster_state:ok/.test(info) ? true : undefined;
    });
    const before = t.answers.length;
    // The survivor may still say ok before it notices the kill (node timeout 2 s); then the election and
    // ioredis' slot refresh: ~10-15 s on an idle machine, seen past 30 s on a loaded one.
    await waitFor('webhooks acknowledged again after the failover', 90_000, async () =>
      t.answers.slice(before).filter((a) => a.status === 202).length >= 10 ? true : undefined,
    ).catch(async (err: Error) => {
      // Say what the cluster and the receiver were doing, so a failure here can be told apart: no new
      // master (the election), or a master ioredis never found (the slot refresh).
      const statuses = new Map<number, number>();
      for (const a of t.answers.slice(before)) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      const views = await Promise.all(
        [...cluster.masters, ...cluster.replicas]
          .filter((n) => n !== owner)
          .map(async (n) => `${n.port}: ${await ask(n.port, (r) => r.cluster('NODES')).catch((e: Error) => e.message)}`),
      );
      throw new Error(`${err.message}; answers since: ${JSON.stringify([...statuses])}; cluster nodes:\n${views.join('\n')}`);
    });
    await t.stop();
    const { acked, refused } = await expectNothingLost(h, t.answers);
    console.log(`cluster failover (slot master killed): ${acked} acknowledged and found planned, ${refused} answered 503`);
  }, 240_000);
});
