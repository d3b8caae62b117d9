/**
 * Memory benchmark (issue 15, goal 4): every process kind Slipway ships, each started as a user
 * starts it, RSS sampled from /proc/<pid>/status while pipelines arrive:
 *  - split: workers/http.ts, workers/planner.ts, workers/build.ts, workers/deploy.ts (four processes);
 *  - all-in-one: src/main.ts (every role in one process).
 * The two layouts run one after the other, each for `--duration` seconds, on the services' Redis
 * (a prefix of their own, removed afterwards) against the fake GitLab in a process of its own
 * (bench/fake-gitlab-process.ts). Pipelines: 5 script jobs `exit 0` in slipway/busybox:1, run by
 * the build process on the real Docker engine, one webhook every `--every` ms. The deploy process
 * gets no work from these pipelines: its figure is what an idle deploy worker holds.
 * Printed: RSS per process every `--sample` seconds, then first / max / last and the growth over the
 * second half of the soak (flat: within a few MB).
 *
 *   npx tsx bench/memory.ts [--duration 600] [--every 2000] [--sample 10] [--runner node|tsx]
 *       [--layouts split,all-in-one] [--node-options="--heapsnapshot-signal=SIGUSR2"]
 * `--runner node` (the default): the compiled JavaScript in dist/, what `npm start` and the image
 * run (`npm run build` first); `tsx`: TypeScript compiled at start. `--node-options`: flags for
 * Slipway's processes (not for the fake GitLab), e.g. to take heap snapshots while it runs; each
 * process's pid is printed for that.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { deliver, pushEvent } from '../test/helpers/gitlab-delivery.js';
import { WEBHOOK_SECRET } from '../test/helpers/slipway-harness.js';
import { startFlags } from './start-flags.js';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '600' },
    every: { type: 'string', default: '2000' },
    sample: { type: 'string', default: '10' },
    runner: { type: 'string', default: 'node' },
    layouts: { type: 'string', default: 'split,all-in-one' },
    'node-options': { type: 'string', default: '' },
  },
});
const DURATION_S = Number(args.duration);
const EVERY_MS = Number(args.every);
const SAMPLE_S = Number(args.sample);
const ROOT = path.resolve(import.meta.dirname, '..');
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390';
const PROJECT_ID = 7200;
const PROJECT_PATH = 'bench/memory';
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

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** `npm start`'s flags, then --node-options. */
const nodeFlags = (): string[] => [...startFlags(), ...(args['node-options'] ?? '').split(' ').filter(Boolean)];

function entry(file: string): string[] {
  const flags = nodeFlags();
  if (args.runner === 'node') {
    const js = path.join(ROOT, 'dist', file.replace(/\.ts$/, '.js'));
    if (!existsSync(js)) throw new Error(`${js} is missing: run \`npm run build\` first (or pass --runner tsx)`);
    return [...flags, js];
  }
  if (args.runner !== 'tsx') throw new Error(`--runner must be node or tsx, not ${args.runner}`);
  return [...flags, '--import', 'tsx', path.join(ROOT, file)];
}

/** User + system CPU seconds of a process so far (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** Least-squares slope of RSS over time, in MB per minute: what "flat" is judged by (one GC more or less moves the last sample, not the slope). */
function slopeMbPerMin(points: ReadonlyArray<{ t: number; mb: number }>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const mm = points.reduce((a, p) => a + p.mb, 0) / n;
  const num = points.reduce((a, p) => a + (p.t - mt) * (p.mb - mm), 0);
  const den = points.reduce((a, p) => a + (p.t - mt) ** 2, 0);
  return den === 0 ? NaN : (num / den) * 60;
}

async function startGitlab(commits: number): Promise<{ url: string; token: string; shas: string[]; stop(): void }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'bench/fake-gitlab-process.ts'), String(PROJECT_ID), PROJECT_PATH, String(commits), PIPELINE_FILE],
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
  return { ...(JSON.parse(line) as { url: string; token: string; shas: string[] }), stop: () => child.stdin?.end() };
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${url}/readyz did not answer 200 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function runLayout(layout: 'split' | 'all-in-one', gitlab: { url: string; token: string; shas: string[] }, first: number): Promise<number> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'slipway-bench-mem-'));
  const prefix = `bench-mem-${process.pid}-${layout === 'split' ? 's' : 'a'}`;
  const port = 18_000 + (process.pid % 1000);
  const env = {
    ...process.env,
    GITLAB_URL: gitlab.url,
    GITLAB_TOKEN: gitlab.token,
    SLIPWAY_WEBHOOK_SECRET: WEBHOOK_SECRET,
    SLIPWAY_DATA_DIR: dataDir,
    SLIPWAY_PORT: String(port),
    SLIPWAY_LOG_LEVEL: 'warn',
    REDIS_URL,
    SLIPWAY_REDIS_PREFIX: prefix,
    DOCKER_HOST: process.env['DOCKER_HOST'] ?? 'unix:///run/slipway-docker.sock',
    SLIPWAY_REGISTRY: process.env['SLIPWAY_REGISTRY'] ?? '127.0.0.1:5050',
  };
  const kinds = layout === 'split' ? ['http', 'planner', 'build', 'deploy'] : ['all-in-one'];
  const procs = new Map<string, ChildProcess>();
  for (const kind of kinds) {
    const file = kind === 'all-in-one' ? 'src/main.ts' : `workers/${kind}.ts`;
    // Only the http process listens on the port; the workers get a port of 0 they never open.
    const child = spawn(process.execPath, entry(file), {
      env: kind === 'http' || kind === 'all-in-one' ? env : { ...env, SLIPWAY_PORT: '0' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    procs.set(kind, child);
  }
  const url = `http://127.0.0.1:${port}`;
  let next = first;
  try {
    await waitReady(url, 120_000);
    console.log(`\n${layout} (${args.runner}), ${DURATION_S} s, a pipeline every ${EVERY_MS} ms; load ${load()}`);
    console.log(`  pids: ${kinds.map((k) => `${k} ${procs.get(k)?.pid}`).join(', ')}; node flags: ${nodeFlags().join(' ') || 'none'}`);
    console.log(`  ${'t (s)'.padStart(6)}  ${kinds.map((k) => k.padStart(11)).join('')}   (RSS, MB)`);
    const samples = new Map<string, Array<{ t: number; mb: number }>>(kinds.map((k) => [k, []]));
    const start = Date.now();
    let sent = 0;
    let failed = 0;
    const sender = setInterval(() => {
      const i = next++;
      const sha = gitlab.shas[i] ?? '';
      void deliver(
        url,
        'Push Hook',
        pushEvent({ projectId: PROJECT_ID, path: PROJECT_PATH, sha, branch: `b${i}`, before: gitlab.shas[i - 1] ?? '' }),
        WEBHOOK_SECRET,
      )
        .then((r) => {
          if (r.status === 202) sent += 1;
          else failed += 1;
        })
        .catch(() => {
          failed += 1;
        });
    }, EVERY_MS);
    const sample = () => {
      const t = (Date.now() - start) / 1000;
      const row = kinds.map((k) => {
        const mb = rssMb(procs.get(k)?.pid);
        samples.get(k)?.push({ t, mb });
        return mb.toFixed(1).padStart(11);
      });
      console.log(`  ${t.toFixed(0).padStart(6)}  ${row.join('')}`);
    };
    sample();
    while (Date.now() - start < DURATION_S * 1000) {
      await new Promise((r) => setTimeout(r, SAMPLE_S * 1000));
      sample();
    }
    clearInterval(sender);
    const redis = new Redis(REDIS_URL);
    const done = (await Promise.all(['succeeded', 'failed', 'canceled'].map((p) => redis.zcard(`${prefix}:runs:phase:${p}`)))).reduce((a, b) => a + b, 0);
    const ok = await redis.zcard(`${prefix}:runs:phase:succeeded`);
    console.log(`  webhooks: ${sent} accepted, ${failed} refused; runs finished: ${done} (${ok} succeeded); load ${load()}`);
    for (const k of kinds) {
      const s = samples.get(k) ?? [];
      const mbs = s.map((x) => x.mb);
      const half = s.filter((x) => x.t >= DURATION_S / 2);
      const growth = (half.at(-1)?.mb ?? NaN) - (half[0]?.mb ?? NaN);
      const slope = slopeMbPerMin(half);
      console.log(
        `  ${k.padEnd(11)} first ${mbs[0]?.toFixed(1)} MB, max ${Math.max(...mbs).toFixed(1)} MB, last ${mbs.at(-1)?.toFixed(1)} MB; second half ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MB, slope ${slope >= 0 ? '+' : ''}${slope.toFixed(2)} MB/min; CPU ${cpuSeconds(procs.get(k)?.pid).toFixed(1)} s  (goal <= 150 MB, flat)`,
      );
    }
    // Remove what this layout left in Redis.
    let cursor = '0';
    do {
      const [c, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = c;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  } finally {
    for (const child of procs.values()) child.kill('SIGTERM');
    await Promise.all([...procs.values()].map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    rmSync(dataDir, { recursive: true, force: true });
  }
  return next;
}

async function main(): Promise<void> {
  const layouts = (args.layouts ?? '').split(',') as Array<'split' | 'all-in-one'>;
  const perLayout = Math.ceil((DURATION_S * 1000) / EVERY_MS) + 10;
  const gitlab = await startGitlab(perLayout * layouts.length + 2);
  try {
    let next = 1;
    for (const layout of layouts) next = await runLayout(layout, gitlab, next);
  } finally {
    gitlab.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
