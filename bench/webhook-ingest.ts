/**
 * Webhook ingest (issue 15, goal 1): Slipway's /webhooks/gitlab against three baselines measured
 * in the same run, interleaved, each server in a process of its own:
 *
 *   npx tsx bench/webhook-ingest.ts                 # 10 s per measurement, 50 connections
 *   npx tsx bench/webhook-ingest.ts --quick         # 2 s each, a smoke run
 *   options: --seconds N --connections N --rounds N --sizes 2048,20480 --only slipway --profile DIR
 *
 * The servers run as compiled JavaScript, as in production: it first compiles src/ and bench/ into
 * dist/ (tsconfig.bench.json, incremental; --no-build skips it).
 * Two redis-servers of its own (temp dirs, appendfsync always and everysec). After each Slipway
 * run it checks that every 202 was stored (runs in Redis = 202 answers); after each node:http +
 * add run, that every 202 is a job in the queue.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { quantile, runLoad, type LoadResult } from './http-load.js';
import type { ServerKind } from './ingest-server.js';
import { BENCH_SECRET, pushBodies } from './push-bodies.js';
import { startRedis, type RedisInstance } from './redis-instance.js';

interface Args {
  seconds: number;
  connections: number;
  rounds: number;
  sizes: number[];
  only: Set<string> | undefined;
  profileDir: string | undefined;
  build: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 10, connections: 50, rounds: 1, sizes: [2048, 20480], only: undefined, profileDir: undefined, build: true };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--no-build':
        a.build = false;
        break;
      case '--quick':
        a.seconds = 2;
        break;
      case '--seconds':
        a.seconds = Number(v);
        i++;
        break;
      case '--connections':
        a.connections = Number(v);
        i++;
        break;
      case '--rounds':
        a.rounds = Number(v);
        i++;
        break;
      case '--sizes':
        a.sizes = (v ?? '').split(',').map(Number);
        i++;
        break;
      case '--only':
        a.only = new Set((v ?? '').split(','));
        i++;
        break;
      case '--profile':
        a.profileDir = path.resolve(v ?? 'profiles');
        i++;
        break;
      default:
        throw new Error(`unknown argument ${argv[i]} (see the comment at the top of bench/webhook-ingest.ts)`);
    }
  }
  for (const [k, n] of [
    ['--seconds', a.seconds],
    ['--connections', a.connections],
    ['--rounds', a.rounds],
  ] as const) {
    if (!(n > 0)) throw new Error(`${k} must be a positive number`);
  }
  return a;
}

interface Case {
  label: string;
  kind: ServerKind;
  fsync?: 'always' | 'everysec';
}

const CASES: Case[] = [
  { label: 'bare node:http', kind: 'node-http' },
  { label: 'bare express', kind: 'express' },
  { label: 'node:http + one add (always)', kind: 'node-http-add', fsync: 'always' },
  { label: 'Slipway (always)', kind: 'slipway', fsync: 'always' },
  { label: 'node:http + one add (everysec)', kind: 'node-http-add', fsync: 'everysec' },
  { label: 'Slipway (everysec)', kind: 'slipway', fsync: 'everysec' },
];

interface Measured {
  load: LoadResult;
  rss: number;
  stored: number | undefined;
}

async function startServer(kind: ServerKind, redisUrl: string | undefined, profileDir: string | undefined): Promise<{ child: ChildProcess; port: number }> {
  const execArgv = profileDir && kind === 'slipway' ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = fork(path.join(ROOT, 'dist/bench/ingest-server.js'), [kind, ...(redisUrl ? [redisUrl] : [])], {
    execArgv,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} server did not say it was listening within 30 s`)), 30_000);
    child.once('message', (m: { ready?: number }) => {
      clearTimeout(timer);
      if (typeof m.ready === 'number') resolve(m.ready);
      else reject(new Error(`${kind} server: unexpected first message ${JSON.stringify(m)}`));
    });
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code} before listening`)));
  });
  return { child, port };
}

async function stopServer(child: ChildProcess): Promise<number> {
  const rss = await new Promise<number>((resolve) => {
    const timer = setTimeout(() => resolve(Number.NaN), 5_000);
    child.once('message', (m: { rss?: number }) => {
      clearTimeout(timer);
      resolve(m.rss ?? Number.NaN);
    });
    child.send({ rss: true });
  });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.send({ stop: true });
  });
  return rss;
}

async function measure(c: Case, size: number, args: Args, redis: Record<string, RedisInstance>): Promise<Measured> {
  const instance = c.fsync ? redis[c.fsync] : undefined;
  const admin = instance ? new Redis(instance.url) : undefined;
  await admin?.flushall();
  const { child, port } = await startServer(c.kind, instance?.url, args.profileDir);
  const tag = randomBytes(8).toString('hex');
  const body = pushBodies(size, tag);
  const load = await runLoad({
    host: '127.0.0.1',
    port,
    connections: args.connections,
    durationMs: args.seconds * 1000,
    request: (n) => {
      const b = body(n);
      const head =
        `POST /webhooks/gitlab HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nUser-Agent: GitLab/18.5.0\r\n` +
        `X-Gitlab-Event: Push Hook\r\nX-Gitlab-Token: ${BENCH_SECRET}\r\nX-Gitlab-Webhook-UUID: ${tag}-${n}\r\nIdempotency-Key: ${tag}-${n}\r\n` +
        `Content-Length: ${b.length}\r\n\r\n`;
      return Buffer.concat([Buffer.from(head, 'latin1'), b]);
    },
  });
  const rss = await stopServer(child);
  let stored: number | undefined;
  if (admin && c.kind === 'slipway') stored = await admin.zcard('slipway:runs');
  if (admin && c.kind === 'node-http-add') stored = Number(await admin.get('bench:bench:id'));
  admin?.disconnect();
  return { load, rss, stored };
}

const ROOT = path.resolve(import.meta.dirname, '..');

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.build) execFileSync('npx', ['tsc', '-p', 'tsconfig.bench.json'], { cwd: ROOT, stdio: 'inherit' });
  const cases = CASES.filter((c) => !args.only || args.only.has(c.kind));
  const redis = { always: await startRedis('always'), everysec: await startRedis('everysec') };
  const results = new Map<string, Measured[]>();
  let failures = 0;
  try {
    for (let round = 1; round <= args.rounds; round++) {
      for (const size of args.sizes) {
        for (const c of cases) {
          const m = await measure(c, size, args, redis);
          const key = `${size}|${c.label}`;
          results.set(key, [...(results.get(key) ?? []), m]);
          const ok202 = m.load.statuses.get(202) ?? 0;
          const others = [...m.load.statuses].filter(([s]) => s !== 202);
          const storedNote =
            m.stored === undefined ? '' : m.stored === ok202 ? `, stored ${fmt(m.stored)} = 202s` : `, STORED ${fmt(m.stored)} ≠ ${fmt(ok202)} 202s`;
          if (m.stored !== undefined && m.stored !== ok202) failures++;
          console.log(
            `round ${round} ${fmt(size / 1024)} KB ${c.label.padEnd(32)} ${fmt(rps(m)).padStart(7)} req/s  p50 ${fmt(quantile(m.load.latencies, 0.5), 1)} ms  p99 ${fmt(quantile(m.load.latencies, 0.99), 1)} ms  ` +
              `errors ${m.load.errors}${others.length ? ` non-202 ${JSON.stringify(others)} ${JSON.stringify([...m.load.sampleBodies])}` : ''}  RSS ${fmt(m.rss / 2 ** 20)} MB${storedNote}`,
          );
        }
      }
    }
  } finally {
    await Promise.all([redis.always.stop(), redis.everysec.stop()]);
  }

  console.log(`\nmedians over ${args.rounds} round(s), ${args.connections} connections, ${args.seconds} s each\n`);
  console.log('| route | body | req/s | p50 ms | p99 ms | errors | peak RSS MB |');
  console.log('|---|---|---|---|---|---|---|');
  const med = (size: number, label: string, f: (m: Measured) => number) => median((results.get(`${size}|${label}`) ?? []).map(f));
  for (const size of args.sizes) {
    for (const c of cases) {
      console.log(
        `| ${c.label} | ${fmt(size / 1024)} KB | ${fmt(med(size, c.label, rps))} | ${fmt(
          med(size, c.label, (m) => quantile(m.load.latencies, 0.5)),
          1,
        )} | ${fmt(
          med(size, c.label, (m) => quantile(m.load.latencies, 0.99)),
          1,
        )} | ${fmt(med(size, c.label, (m) => m.load.errors + nonAccepted(m)))} | ${fmt(med(size, c.label, (m) => m.rss / 2 ** 20))} |`,
      );
    }
  }
  if (cases.some((c) => c.kind === 'slipway')) {
    console.log('\n| goal | body | fsync | value | met |');
    console.log('|---|---|---|---|---|');
    for (const size of args.sizes) {
      for (const fsync of ['always', 'everysec'] as const) {
        const s = `Slipway (${fsync})`;
        const slip = med(size, s, rps);
        const vsExpress = slip / med(size, 'bare express', rps);
        const vsAdd = slip / med(size, `node:http + one add (${fsync})`, rps);
        const p99 = med(size, s, (m) => quantile(m.load.latencies, 0.99));
        const errs = med(size, s, (m) => m.load.errors + nonAccepted(m));
        const row = (goal: string, v: string, met: boolean) => console.log(`| ${goal} | ${fmt(size / 1024)} KB | ${fsync} | ${v} | ${met ? 'yes' : 'NO'} |`);
        if (Number.isFinite(vsExpress)) row('≥ 1.0× bare express', `${fmt(vsExpress, 2)}×`, vsExpress >= 1);
        if (Number.isFinite(vsAdd)) row('≥ 0.8× node:http + one add', `${fmt(vsAdd, 2)}×`, vsAdd >= 0.8);
        if (Number.isFinite(p99)) row('p99 ≤ 25 ms', `${fmt(p99, 1)} ms`, p99 <= 25);
        if (Number.isFinite(errs)) row('0 errors', fmt(errs), errs === 0);
      }
    }
  }
  if (failures > 0) {
    console.error(`\n${failures} run(s) stored fewer or more events than they answered 202`);
    process.exitCode = 1;
  }
}

const rps = (m: Measured) => ((m.load.statuses.get(202) ?? 0) * 1000) / m.load.elapsedMs;
const nonAccepted = (m: Measured) => [...m.load.statuses].filter(([s]) => s !== 202).reduce((n, [, k]) => n + k, 0);

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

await main();
