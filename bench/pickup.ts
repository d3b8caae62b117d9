/**
 * Pickup (issue 15, goal 2): from the planner job added (`Queue.add` called) to its processor
 * running, in a worker process of its own with the planner role's settings. Measured at idle (one
 * job at a time, a pause between) and under the ingest load (Slipway's http role in another process
 * taking 50 connections of push deliveries at the same time), interleaved. Its own redis-server
 * (appendfsync always).
 *
 *   npx tsx bench/pickup.ts                 # 300 jobs per phase
 *   options: --jobs N --rounds N --fsync always|everysec --no-build
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_NAMES } from '../src/queues/names.js';
import { quantile, runLoad } from './http-load.js';
import { BENCH_SECRET, pushBodies } from './push-bodies.js';
import { startRedis } from './redis-instance.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const PLANNER_CONCURRENCY = 4; // SLIPWAY_PLANNER_CONCURRENCY's default

function parseArgs(argv: string[]): { jobs: number; rounds: number; build: boolean; fsync: 'always' | 'everysec' } {
  const a: { jobs: number; rounds: number; build: boolean; fsync: 'always' | 'everysec' } = { jobs: 300, rounds: 1, build: true, fsync: 'always' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--jobs') a.jobs = Number(argv[++i]);
    else if (argv[i] === '--rounds') a.rounds = Number(argv[++i]);
    else if (argv[i] === '--no-build') a.build = false;
    else if (argv[i] === '--fsync') a.fsync = argv[++i] === 'everysec' ? 'everysec' : 'always';
    else throw new Error(`unknown argument ${argv[i]} (see the comment at the top of bench/pickup.ts)`);
  }
  if (!(a.jobs > 0 && a.rounds > 0)) throw new Error('--jobs and --rounds must be positive numbers');
  return a;
}

async function child(file: string, args: string[]): Promise<{ proc: ChildProcess; first: Record<string, unknown> }> {
  const proc = fork(path.join(ROOT, 'dist/bench', file), args, { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not say it was ready within 30 s`)), 30_000);
    proc.once('message', (m: Record<string, unknown>) => {
      clearTimeout(timer);
      resolve(m);
    });
    proc.once('exit', (code) => reject(new Error(`${file} exited with ${code} before it was ready`)));
  });
  return { proc, first };
}

async function stop(proc: ChildProcess): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    proc.send({ stop: true });
  });
}

/**
 * Adds `jobs` planner jobs one after another (each waits for the last pickup, then 5–15 ms), and
 * between them as many LPUSHes for the bare BLPOP; returns both sets of pickups in ms.
 */
async function measurePickups(
  queue: Queue,
  producer: Redis,
  worker: ChildProcess,
  jobs: number,
  tag: string,
): Promise<{ bullmq: Float64Array; blpop: Float64Array }> {
  const out = new Float64Array(jobs);
  const floor = new Float64Array(jobs);
  const next = () =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('nothing was picked up within 10 s')), 10_000);
      worker.once('message', (m: { pickupMs: number }) => {
        clearTimeout(timer);
        resolve(m.pickupMs);
      });
    });
  for (let i = 0; i < jobs; i++) {
    const popped = next();
    await producer.lpush('bench:ping', String(performance.timeOrigin + performance.now()));
    floor[i] = await popped;
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
    const picked = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('a planner job was not picked up within 10 s')), 10_000);
      worker.once('message', (m: { pickupMs: number }) => {
        clearTimeout(timer);
        resolve(m.pickupMs);
      });
    });
    const runId = `${tag}-${i}`;
    await queue.add('plan', { runId, addedAt: performance.timeOrigin + performance.now() }, { jobId: `plan.${runId}`, removeOnComplete: true });
    out[i] = await picked;
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
  }
  return { bullmq: out.sort(), blpop: floor.sort() };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.build) execFileSync('npx', ['tsc', '-p', 'tsconfig.bench.json'], { cwd: ROOT, stdio: 'inherit' });
  const redis = await startRedis(args.fsync);
  const producer = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const queue = new Queue(QUEUE_NAMES.events, { connection: producer, prefix: 'slipway' });
  const worker = await child('pickup-worker.js', [redis.url, String(PLANNER_CONCURRENCY)]);
  const rows: { phase: string; p50: number; p99: number; max: number; ingest?: string }[] = [];
  const row = (phase: string, xs: Float64Array, ingest?: string) =>
    rows.push({ phase, p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: xs.at(-1) ?? Number.NaN, ...(ingest ? { ingest } : {}) });
  try {
    for (let round = 1; round <= args.rounds; round++) {
      const idle = await measurePickups(queue, producer, worker.proc, args.jobs, `idle-${round}-${randomBytes(4).toString('hex')}`);
      row(`idle, planner job (round ${round})`, idle.bullmq);
      row(`idle, bare BLPOP baseline (round ${round})`, idle.blpop);

      const http = await child('ingest-server.js', ['slipway', redis.url]);
      const port = Number(http.first['ready']);
      const body = pushBodies(2048, randomBytes(8).toString('hex'));
      let loadDone = false;
      const load = runLoad({
        host: '127.0.0.1',
        port,
        connections: 50,
        durationMs: 600_000,
        until: () => loadDone,
        request: (n) => {
          const b = body(n);
          const head = `POST /webhooks/gitlab HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nX-Gitlab-Event: Push Hook\r\nX-Gitlab-Token: ${BENCH_SECRET}\r\nIdempotency-Key: load-${round}-${n}\r\nContent-Length: ${b.length}\r\n\r\n`;
          return Buffer.concat([Buffer.from(head, 'latin1'), b]);
        },
      });
      await new Promise((r) => setTimeout(r, 1_000)); // the load is up
      const busy = await measurePickups(queue, producer, worker.proc, args.jobs, `busy-${round}-${randomBytes(4).toString('hex')}`);
      loadDone = true;
      const l = await load;
      await stop(http.proc);
      const ingest = `${Math.round(((l.statuses.get(202) ?? 0) * 1000) / l.elapsedMs)} req/s, p99 ${quantile(l.latencies, 0.99).toFixed(1)} ms`;
      row(`under ingest load, planner job (round ${round})`, busy.bullmq, ingest);
      row(`under ingest load, bare BLPOP baseline (round ${round})`, busy.blpop, ingest);
    }
  } finally {
    await stop(worker.proc);
    await queue.close();
    producer.disconnect();
    await redis.stop();
  }
  console.log(`\nplanner job added → processor running, ${args.jobs} jobs per phase (ms), appendfsync ${args.fsync}\n`);
  console.log('| phase | p50 | p99 | max | ingest meanwhile |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.phase} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.max.toFixed(2)} | ${r.ingest ?? '—'} |`);
  const idle = rows.filter((r) => r.phase.startsWith('idle, planner'));
  const p50 = Math.max(...idle.map((r) => r.p50));
  const p99 = Math.max(...idle.map((r) => r.p99));
  console.log(
    `\ngoal at idle: p50 ≤ 2 ms (${p50.toFixed(2)}: ${p50 <= 2 ? 'met' : 'NOT met'}), p99 ≤ 10 ms (${p99.toFixed(2)}: ${p99 <= 10 ? 'met' : 'NOT met'})`,
  );
}

await main();
