/**
 * Start-up (issue 15, goal 6): from spawning the http role (`node dist/src/main.js` with the flags
 * of `npm start`, what the image runs) to its first 200 on /readyz, against a redis-server of its own
 * (appendfsync always). Baselines in the same run, interleaved: a bare `node -e` that listens and
 * answers (what Node itself costs), and the same Slipway through tsx (TypeScript compiled at run time).
 *
 *   npx tsx bench/startup.ts            # 7 starts of each, medians
 *   options: --runs N --roles http|planner,... --no-build
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startRedis } from './redis-instance.js';
import { startFlags } from './start-flags.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const READY_WITHIN_MS = 20_000;

function parseArgs(argv: string[]): { runs: number; roles: string; build: boolean } {
  const a = { runs: 7, roles: 'http', build: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--runs') a.runs = Number(argv[++i]);
    else if (argv[i] === '--roles') a.roles = argv[++i] ?? 'http';
    else if (argv[i] === '--no-build') a.build = false;
    else throw new Error(`unknown argument ${argv[i]} (see the comment at the top of bench/startup.ts)`);
  }
  if (!(a.runs > 0)) throw new Error('--runs must be a positive number');
  return a;
}

/** User + system CPU milliseconds a process has used so far (/proc/<pid>/stat, ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/**
 * Spawns `cmd`, polls http://127.0.0.1:port/readyz every 5 ms until a 200, returns the milliseconds
 * and the CPU the process used until then (on a loaded machine the wall time is mostly the wait for
 * a core; the CPU time is not), then stops it.
 */
async function timeToReady(cmd: string, args: string[], env: Record<string, string>, port: number): Promise<{ ms: number; cpu: number }> {
  const started = performance.now();
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${cmd} exited with ${child.exitCode} before /readyz answered: ${stderr.slice(-500)}`);
      if (performance.now() - started > READY_WITHIN_MS) throw new Error(`/readyz did not answer 200 within ${READY_WITHIN_MS} ms`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1_000) }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return { ms: performance.now() - started, cpu: cpuMs(child.pid) };
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }
}

const BARE = `require('node:http').createServer((q,s)=>s.end('{"ok":true}')).listen(Number(process.env.SLIPWAY_PORT),'127.0.0.1')`;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.build) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  const redis = await startRedis('always');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'slipway-bench-startup-'));
  const times: Record<string, number[]> = { 'bare node:http': [], 'Slipway, compiled (npm start)': [], 'Slipway through tsx': [] };
  const cpu: Record<string, number[]> = { 'bare node:http': [], 'Slipway, compiled (npm start)': [], 'Slipway through tsx': [] };
  const record = (name: string, r: { ms: number; cpu: number }) => {
    times[name]?.push(r.ms);
    cpu[name]?.push(r.cpu);
  };
  try {
    for (let i = 0; i < args.runs; i++) {
      const port = await freePort();
      const env = {
        GITLAB_URL: 'http://127.0.0.1:9/',
        GITLAB_TOKEN: 'bench-token-never-used',
        REDIS_URL: redis.url,
        SLIPWAY_WEBHOOK_SECRET: 'bench-webhook-secret',
        SLIPWAY_DATA_DIR: dataDir,
        SLIPWAY_HOST: '127.0.0.1',
        SLIPWAY_PORT: String(port),
        SLIPWAY_ROLES: args.roles,
        NODE_ENV: 'production',
      };
      record('bare node:http', await timeToReady('node', ['-e', BARE], env, port));
      record('Slipway, compiled (npm start)', await timeToReady('node', [...startFlags(), 'dist/src/main.js'], env, port));
      record('Slipway through tsx', await timeToReady('node', ['--import', 'tsx', 'src/main.ts'], env, port));
    }
  } finally {
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(`\nstart → first 200 on /readyz, roles ${args.roles}, ${args.runs} starts each (median, min–max)\n`);
  console.log('| process | median ms | min–max ms | CPU until ready, median ms |');
  console.log('|---|---|---|---|');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  for (const [name, xs] of Object.entries(times)) {
    const s = [...xs].sort((a, b) => a - b);
    console.log(
      `| ${name} | ${Math.round(median(xs))} | ${Math.round(s[0] ?? Number.NaN)}–${Math.round(s.at(-1) ?? Number.NaN)} | ${Math.round(median(cpu[name] ?? []))} |`,
    );
  }
  console.log(
    `\nload average at the end: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const compiled = [...(times['Slipway, compiled (npm start)'] ?? [])].sort((a, b) => a - b);
  const med = compiled[Math.floor(compiled.length / 2)] ?? Number.NaN;
  console.log(`\ngoal: compiled http role ready within 1,500 ms: ${Math.round(med)} ms, ${med <= 1500 ? 'met' : 'NOT met'}`);
}

await main();
