/**
 * Engine overhead benchmark (issue 15, goal 3): pipelines of 5 jobs whose steps exit at once, run by a
 * whole Slipway (all roles in this process, its embedded Redis with `appendfsync always`, the fake
 * GitLab of src/standins over HTTP and git over HTTP) with a fake Executor that answers exit 0 at once,
 * so what is measured is Slipway's own work, not Docker's:
 *
 *  1. Redis commands per pipeline: MONITOR on the embedded Redis while `--count` pipelines run one
 *     at a time; commands a Lua script runs inside Redis are not counted (they cost no round trip),
 *     a MULTI … EXEC block counts once (ioredis sends it in one write). The idle rate of the same
 *     Redis (BullMQ's blocking waits, heartbeats) is measured first and subtracted.
 *  2. Latency: `--sequential` pipelines one at a time, each from the webhook POST to the run's final
 *     status (the record's own timestamp), minus the steps' own time (the fake executor's, ~0): the
 *     time beyond the steps. Interleaved with a baseline of the same shape on bare BullMQ (5 jobs
 *     in 3 stages on a queue of the same Redis, each stage added when the last one's jobs are done),
 *     which is what the queue alone costs.
 *  3. Throughput: `--pipelines` webhooks sent at once (16 in flight), then: pipelines planned per
 *     second (from the first POST until every run has left `received`/`planning`) and finished per
 *     second.
 *
 * The fake GitLab runs in a process of its own (bench/fake-gitlab-process.ts). Per pipeline it is
 * asked for the pipeline file once and gets 15 commit-status posts (5 jobs: pending, running,
 * success), answered from there.
 *
 *   npx tsx bench/engine-overhead.ts [--pipelines 500] [--sequential 100] [--count 20]
 */
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Executor, StepResult } from '../src/executors/types.js';
import type { RunRecord } from '../src/runs/types.js';
import { deliver, pushEvent } from '../test/helpers/gitlab-delivery.js';
import { WEBHOOK_SECRET } from '../test/helpers/slipway-harness.js';
import { readConfig } from '../src/config/config.js';
import { ALL_ROLES, startSlipway } from '../src/slipway.js';

const { values: args } = parseArgs({
  options: {
    pipelines: { type: 'string', default: '500' },
    sequential: { type: 'string', default: '100' },
    count: { type: 'string', default: '20' },
    'build-concurrency': { type: 'string', default: '4' },
  },
});
const PIPELINES = Number(args.pipelines);
const SEQUENTIAL = Number(args.sequential);
const COUNT = Number(args.count);

const PROJECT_ID = 7100;
const PROJECT_PATH = 'bench/overhead';
// 5 jobs in 3 stages: two, two, one.
const PIPELINE_FILE = [
  'stages: [check, test, package]',
  ...[
    ['lint', 'check'],
    ['types', 'check'],
    ['unit', 'test'],
    ['integration', 'test'],
    ['bundle', 'package'],
  ].flatMap(([name, stage]) => [`${name}:`, `  stage: ${stage}`, '  image: slipway/busybox:1', '  script: [exit 0]']),
  '',
].join('\n');

/** Steps that exit 0 at once; their own time is kept so it can be taken out of the figures. */
const stepMs: number[] = [];
const fakeExecutor: Executor = {
  async runStep(): Promise<StepResult> {
    const t0 = performance.now();
    const r: StepResult = { exitCode: 0, timedOut: false, canceled: false, durationMs: 0 };
    stepMs.push(performance.now() - t0);
    return r;
  },
};

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const ms = (x: number) => `${x.toFixed(1)} ms`;
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Child processes Slipway starts (git), counted with the time each one lived. */
const spawned = { count: 0, ms: 0, byCmd: new Map<string, number>() };
const realSpawn = childProcess.spawn;
const spawnChild = realSpawn;
childProcess.spawn = ((...a: Parameters<typeof realSpawn>) => {
  const child = realSpawn(...a);
  const t0 = performance.now();
  const argv = a[1];
  const label = `${String(a[0])} ${Array.isArray(argv) ? (argv.find((x: string) => !x.startsWith('-') && !x.includes('/') && !x.includes('=')) ?? '') : ''}`;
  spawned.count += 1;
  spawned.byCmd.set(label, (spawned.byCmd.get(label) ?? 0) + 1);
  child.once('exit', () => (spawned.ms += performance.now() - t0));
  return child;
}) as typeof realSpawn;
syncBuiltinESMExports();

/** CPU time in ms: this process, its waited-for children (git), and the Redis server. */
async function cpuNow(redis: Redis): Promise<{ self: number; children: number; redis: number }> {
  const u = process.cpuUsage();
  // /proc/self/stat fields 16 and 17 (cutime, cstime) are in clock ticks (100 per second on Linux).
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(f[13]) + Number(f[14]);
  const info = await redis.info('cpu');
  const redisCpu = ['used_cpu_user', 'used_cpu_sys'].reduce((a, k) => a + Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0), 0);
  return { self: (u.user + u.system) / 1000, children: ticks * 10, redis: redisCpu * 1000 };
}

const FINAL: readonly RunRecord['status']['phase'][] = ['succeeded', 'failed', 'canceled', 'skipped'];

async function main(): Promise<void> {
  const total = 5 + COUNT + SEQUENTIAL + PIPELINES;
  const gitlab = await startGitlabProcess(total);
  const { shas } = gitlab;
  const h = await startSlipwayFor(gitlab);
  const redis = new Redis({ path: path.join(h.dataDir, 'redis', 'redis.sock'), maxRetriesPerRequest: null });
  const prefix = h.config.redisPrefix;
  try {
    let next = 1; // shas[0] carries the pipeline file; every pipeline gets a commit of its own
    const send = async (): Promise<{ runId: string; sentAt: number }> => {
      // A branch per pipeline: a newer push to the same branch would cancel the older pipeline (GitLab's auto-cancel).
      const branch = `b${next}`;
      const sha = shas[next] ?? '';
      const before = shas[next - 1] ?? '';
      next += 1;
      const sentAt = Date.now();
      const res = await deliver(h.url, 'Push Hook', pushEvent({ projectId: PROJECT_ID, path: PROJECT_PATH, sha, branch, before }), WEBHOOK_SECRET);
      if (res.status !== 202) throw new Error(`webhook answered ${res.status}: ${JSON.stringify(res.json)}`);
      return { runId: String(res.json['runId']), sentAt };
    };
    const finished = async (runId: string): Promise<RunRecord> => {
      const run = await h.waitForRun(runId, [...FINAL], 120_000);
      if (run.status.phase !== 'succeeded') throw new Error(`run ${runId} ${run.status.phase}: ${run.status.reason}`);
      return run;
    };
    const one = async (): Promise<number> => {
      const { runId, sentAt } = await send();
      const stepsBefore = stepMs.length;
      const run = await finished(runId);
      const steps = stepMs.slice(stepsBefore).reduce((a, b) => a + b, 0);
      return Date.parse(run.status.at) - sentAt - steps;
    };

    console.log(`engine overhead: ${PIPELINES} pipelines at once, ${SEQUENTIAL} one at a time, ${COUNT} counted; load ${load()}`);
    // Warm-up: the first run clones the mirror, later ones find their SHA there.
    for (let i = 0; i < 5; i++) await one();

    // 1. Redis commands per pipeline.
    const monitor = await redis.monitor();
    const QUEUE_KEY = new RegExp(`^${prefix}:(events|build|deploy|outbox):`);
    const counts = new Map<string, number>();
    let inMulti = false;
    let roundTrips = 0;
    let commands = 0;
    monitor.on('monitor', (_time: string, cmd: string[], source: string) => {
      const name = (cmd[0] ?? '').toLowerCase();
      // Scripts' own commands cost no round trip; HMGET of the status field alone and INFO are this bench's polls.
      if (source === 'lua' || (name === 'hmget' && cmd.length === 3 && cmd[2] === 'status') || name === 'info') return;
      commands += 1;
      if (name === 'multi') inMulti = true;
      if (!inMulti) roundTrips += 1;
      if (name === 'exec') {
        inMulti = false;
        roundTrips += 1;
      }
      // EVAL/EVALSHA: script, numkeys, first key.
      const key = (name.startsWith('eval') ? cmd[3] : cmd[1]) ?? '';
      const who = QUEUE_KEY.test(key) ? 'bullmq' : 'slipway';
      const label = `${who} ${name}`;
      counts.set(label, (counts.get(label) ?? 0) + 1);
    });
    await new Promise((r) => setTimeout(r, 3000));
    const idleRt = roundTrips / 3;
    const idleCmds = commands / 3;
    counts.clear();
    roundTrips = 0;
    commands = 0;
    const t0 = Date.now();
    const spawnedBefore = { count: spawned.count, ms: spawned.ms, byCmd: new Map(spawned.byCmd) };
    const cpu0 = await cpuNow(redis);
    for (let i = 0; i < COUNT; i++) await one();
    const cpu1 = await cpuNow(redis);
    console.log(
      `\ncpu per pipeline (node process incl. the fake GitLab and this bench: ${ms((cpu1.self - cpu0.self) / COUNT)}; git: ${ms((cpu1.children - cpu0.children) / COUNT)}; redis-server: ${ms((cpu1.redis - cpu0.redis) / COUNT)})`,
    );
    console.log(
      `\nper pipeline: ${((spawned.count - spawnedBefore.count) / COUNT).toFixed(1)} child processes living ${ms((spawned.ms - spawnedBefore.ms) / COUNT)} in all`,
    );
    for (const [label, n] of spawned.byCmd) {
      const d = n - (spawnedBefore.byCmd.get(label) ?? 0);
      if (d > 0) console.log(`  ${(d / COUNT).toFixed(1).padStart(6)}  ${label}`);
    }

    const secs = (Date.now() - t0) / 1000;
    monitor.disconnect();
    const perRt = (roundTrips - idleRt * secs) / COUNT;
    const perCmd = (commands - idleCmds * secs) / COUNT;
    console.log(
      `\nredis per pipeline (${COUNT} pipelines, idle ${idleRt.toFixed(1)} round trips/s subtracted): ${perRt.toFixed(1)} round trips, ${perCmd.toFixed(1)} commands`,
    );
    for (const [label, n] of [...counts].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`  ${(n / COUNT).toFixed(1).padStart(6)}  ${label}`);

    // 2. Latency, interleaved with the bare-BullMQ baseline.
    const baseline = bareBullmq(redis, `${prefix}-bench`);
    await baseline.ready();
    const slip: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      slip.push(await one());
      bare.push(await baseline.pipeline());
    }
    await baseline.close();
    const p50 = pct(slip, 50);
    console.log(`\nlatency, one pipeline at a time (${SEQUENTIAL}, load ${load()}):`);
    console.log(`  slipway, time beyond the steps: p50 ${ms(p50)} p90 ${ms(pct(slip, 90))} p99 ${ms(pct(slip, 99))}  (goal p50 <= 100 ms)`);
    console.log(`  bare BullMQ, same shape:        p50 ${ms(pct(bare, 50))} p90 ${ms(pct(bare, 90))} p99 ${ms(pct(bare, 99))}`);
    console.log(`  ratio of p50s: ${(p50 / pct(bare, 50)).toFixed(2)}x`);

    // 3. Throughput.
    if (PIPELINES === 0) return;
    const phaseCount = async (phases: string[]) => {
      const n = await Promise.all(phases.map((p) => redis.zcard(`${prefix}:runs:phase:${p}`)));
      return n.reduce((a, b) => a + b, 0);
    };
    const PLANNED = ['running', 'succeeded', 'failed', 'canceled', 'skipped'];
    const plannedBefore = await phaseCount(PLANNED);
    const finalBefore = await phaseCount([...FINAL]);
    const start = Date.now();
    let plannedAt = 0;
    let finishedAt = 0;
    const poll = (async () => {
      for (;;) {
        const planned = (await phaseCount(PLANNED)) - plannedBefore;
        const done = (await phaseCount([...FINAL])) - finalBefore;
        if (!plannedAt && planned >= PIPELINES) plannedAt = Date.now();
        if (done >= PIPELINES) {
          finishedAt = Date.now();
          return;
        }
        if (Date.now() - start > 30 * 60_000) throw new Error(`after 30 min: ${planned} planned, ${done} finished of ${PIPELINES}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const sent: Array<{ runId: string; sentAt: number }> = [];
    let sentAll = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (sent.length < PIPELINES) {
          const slot = sent.length;
          sent[slot] = { runId: '', sentAt: 0 };
          sent[slot] = await send();
        }
      }),
    );
    sentAll = Date.now();
    await poll;
    const runs = await Promise.all(sent.map((s) => h.slipway.store.summary(s.runId)));
    const bad = runs.filter((r) => r?.status.phase !== 'succeeded');
    const e2e = runs.map((r, i) => (r ? Date.parse(r.status.at) - (sent[i]?.sentAt ?? 0) : NaN));
    console.log(`\nthroughput, ${PIPELINES} pipelines at once (load ${load()}):`);
    console.log(`  webhooks sent in ${((sentAll - start) / 1000).toFixed(2)} s`);
    console.log(
      `  planned: ${((plannedAt - start) / 1000).toFixed(2)} s, ${(PIPELINES / ((plannedAt - start) / 1000)).toFixed(1)} pipelines/s  (goal >= 50/s)`,
    );
    console.log(`  finished: ${((finishedAt - start) / 1000).toFixed(2)} s, ${(PIPELINES / ((finishedAt - start) / 1000)).toFixed(1)} pipelines/s`);
    for (const r of bad.slice(0, 5)) console.log(`  not succeeded: ${r?.id} ${r?.status.phase}: ${r?.status.reason}`);
    console.log(`  webhook to final status under this load: p50 ${ms(pct(e2e, 50))} p99 ${ms(pct(e2e, 99))}; not succeeded: ${bad.length}`);
  } finally {
    redis.disconnect();
    await h.stop();
    gitlab.stop();
  }
}

interface GitlabProcess {
  url: string;
  token: string;
  shas: string[];
  stop(): void;
}

/** bench/fake-gitlab-process.ts, with the project and its commits made. */
async function startGitlabProcess(commits: number): Promise<GitlabProcess> {
  const child = spawnChild(
    process.execPath,
    ['--import', 'tsx', path.join(import.meta.dirname, 'fake-gitlab-process.ts'), String(PROJECT_ID), PROJECT_PATH, String(commits), PIPELINE_FILE],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the fake GitLab did not start within 120 s')), 120_000);
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.split('\n')[0] ?? '');
      }
    });
    child.once('exit', (code) => reject(new Error(`the fake GitLab exited with ${code}`)));
  });
  const info = JSON.parse(line) as { url: string; token: string; shas: string[] };
  return {
    ...info,
    stop: () => child.stdin?.end(),
  };
}

/** All roles in this process, its embedded Redis in a temp data dir, steps run by the fake executor. */
async function startSlipwayFor(gitlab: GitlabProcess) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'slipway-bench-'));
  const result = readConfig({
    GITLAB_URL: gitlab.url,
    GITLAB_TOKEN: gitlab.token,
    SLIPWAY_WEBHOOK_SECRET: WEBHOOK_SECRET,
    SLIPWAY_DATA_DIR: dataDir,
    SLIPWAY_PORT: '0',
    SLIPWAY_LOG_LEVEL: 'warn',
    SLIPWAY_BUILD_CONCURRENCY: args['build-concurrency'] ?? '4',
    DOCKER_HOST: process.env['DOCKER_HOST'] ?? 'unix:///run/slipway-docker.sock',
    SLIPWAY_REGISTRY: process.env['SLIPWAY_REGISTRY'] ?? '127.0.0.1:5050',
  });
  if (!result.ok) throw new Error(result.problems.join('; '));
  const slipway = await startSlipway(result.config, ALL_ROLES, { executor: fakeExecutor });
  const poll = new Redis({ path: path.join(dataDir, 'redis', 'redis.sock'), maxRetriesPerRequest: null });
  return {
    slipway,
    dataDir,
    config: result.config,
    url: slipway.url ?? '',
    async waitForRun(runId: string, phases: RunRecord['status']['phase'][], timeoutMs: number): Promise<RunRecord> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // HMGET of the status field alone (which Slipway never sends) so the count of Slipway's own commands can leave these polls out.
        const [status] = await poll.hmget(`${result.config.redisPrefix}:run:${runId}`, 'status');
        const phase = status ? (JSON.parse(status) as { phase: RunRecord['status']['phase'] }).phase : undefined;
        const run = phase && phases.includes(phase) ? await slipway.store.get(runId) : null;
        if (run && phases.includes(run.status.phase)) return run;
        if (Date.now() > deadline) throw new Error(`run ${runId} still ${run?.status.phase ?? 'missing'} after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      poll.disconnect();
      await slipway.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** The same shape on bare BullMQ: 5 jobs in 3 stages (2, 2, 1), each stage added once the last is done. */
function bareBullmq(redis: Redis, prefix: string) {
  const connection = { path: redis.options.path ?? '', maxRetriesPerRequest: null };
  const queue = new Queue('baseline', { connection, prefix });
  const waiting = new Map<string, () => void>();
  const worker = new Worker(
    'baseline',
    async (job) => {
      waiting.get(job.id ?? '')?.();
    },
    { connection, prefix, concurrency: 4 },
  );
  let n = 0;
  return {
    ready: () => worker.waitUntilReady(),
    async pipeline(): Promise<number> {
      const t0 = Date.now();
      for (const width of [2, 2, 1]) {
        const ids = Array.from({ length: width }, () => `p${n++}`);
        await Promise.all(
          ids.map(async (id) => {
            const done = new Promise<void>((r) => waiting.set(id, r));
            await queue.add('job', {}, { jobId: id, removeOnComplete: true });
            await done;
            waiting.delete(id);
          }),
        );
      }
      return Date.now() - t0;
    },
    async close() {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
