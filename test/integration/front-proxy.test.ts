import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { rollOutCanary } from '../../src/deploy/canary-roll-out.js';
import { DeployFailedError } from '../../src/deploy/deploy-errors.js';
import type { ReleaseSpec } from '../../src/deploy/deploy-target.js';
import { createDockerTarget } from '../../src/deploy/docker-target.js';
import { rollOut } from '../../src/deploy/roll-out.js';
import { dockerStatus } from '../../src/executors/docker-errors.js';
import { NginxFrontProxy } from '../../src/frontproxy/nginx.js';
import type { StrategyStep } from '../../src/planning/plan-types.js';
import { baseImageFromEnv, dockerFromEnv, uniqueId } from '../helpers/services.js';

// The front proxy is the nginx instance .ci/services.sh starts (Debian's package); the test skips,
// saying so, only where nginx is not installed at all.
const dir = process.env['SLIPWAY_FRONT_PROXY_DIR'] ?? '/var/tmp/slipway-services/nginx';
const nginxInstalled = (() => {
  try {
    execFileSync('nginx', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!nginxInstalled) console.warn('SKIPPED front-proxy tests: nginx is not installed (Debian: apt-get install nginx, then .ci/services.sh start nginx)');
else if (!existsSync(`${dir}/nginx.pid`)) throw new Error(`the front proxy is not running in ${dir}: run .ci/services.sh start nginx`);

const docker = dockerFromEnv();
const proxy = new NginxFrontProxy({ dir });
const target = createDockerTarget(docker, { frontProxy: proxy });
const service = `fp-${uniqueId()}`;
const environment = 'staging';
// Below the band every other test file's slot ports use (20000–31700) and the ephemeral range (32768+).
const basePort = 17_000 + 4 * Math.floor(Math.random() * 700);
const proxyPort = basePort + 2;
const fixed = `http://127.0.0.1:${proxyPort}`;

// busybox httpd serves a page naming the release, and a health page, on the slot's $PORT.
const serve = ['/bin/sh', '-c', 'mkdir -p /www && echo "$RELEASE" > /www/index.html && echo ok > /www/health && exec httpd -f -p "127.0.0.1:$PORT" -h /www'];

function spec(name: string): ReleaseSpec {
  return {
    service,
    environment,
    image: baseImageFromEnv(),
    command: serve,
    env: { RELEASE: name },
    port: basePort,
    healthPath: '/health',
    runId: `run-${name}`,
    frontProxyPort: proxyPort,
  };
}

/** One request on a connection of its own (as separate clients make them): the release's name, or why it failed. */
function request(): Promise<{ ok: true; body: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const req = get(`${fixed}/index.html`, { agent: false, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode === 200 ? { ok: true, body: body.trim() } : { ok: false, error: `HTTP ${res.statusCode}: ${body.trim()}` }));
      res.on('error', (e) => resolve({ ok: false, error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ok: false, error: e.message }));
  });
}

/** `n` requests one after the other through the fixed address, counted by the release that answered. */
async function split(n: number): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await request();
    const key = r.ok ? r.body : `failed: ${r.error}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Steady traffic from `clients` parallel clients until stopped: every answer and every failure. */
function steadyTraffic(clients: number): { stop: () => Promise<{ answered: Record<string, number>; failures: string[] }> } {
  let running = true;
  const answered: Record<string, number> = {};
  const failures: string[] = [];
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      const r = await request();
      if (r.ok) answered[r.body] = (answered[r.body] ?? 0) + 1;
      else failures.push(r.error);
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { answered, failures };
    },
  };
}

async function gone(id: string): Promise<boolean> {
  return docker
    .getContainer(id)
    .inspect()
    .then(
      () => false,
      (err: unknown) => dockerStatus(err) === 404,
    );
}

const quiet = { timeoutMs: 15_000, onLog: () => undefined, checkEveryMs: 200 };
// nginx's smooth weighted round robin is deterministic: each worker sends exactly `weight` of every
// 100 requests it handles to the canary. .ci/services.sh runs one worker, so 1000 sequential
// requests at 10% give exactly 100; the tolerance of ±10 (±1 point) still holds for an instance with
// up to 10 workers, each of which is off by less than one request.
const TOLERANCE = 10;

afterAll(async () => {
  if (!nginxInstalled) return;
  const left = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
  await proxy.removeRoute(service, environment);
});

describe.skipIf(!nginxInstalled)('the docker host behind its front proxy (real nginx, real containers)', { timeout: 120_000 }, () => {
  it('serves a first release at the fixed address: no stable release, so the canary steps are skipped', async () => {
    const logs: string[] = [];
    const release = await rollOutCanary(target, spec('A'), [{ setWeight: 10 }, { pauseMs: 60_000 }], { ...quiet, onLog: (l) => logs.push(l) });
    expect(release.address).toBe(fixed);
    expect(logs.join('\n')).toContain('the canary steps are skipped');
    expect(await split(20)).toEqual({ A: 20 });
    expect(await target.describe(service, environment)).toMatchObject({ runId: 'run-A', url: fixed });
  });

  it('splits the traffic by the canary weight, 10% then 50%, then promotes; steady traffic up to the first weight loses no request', async () => {
    const measured: Record<number, Record<string, number>> = {};
    const statuses: string[] = [];
    const traffic = steadyTraffic(4);
    let background: Awaited<ReturnType<typeof traffic.stop>> | undefined;
    const steps: StrategyStep[] = [{ setWeight: 10 }, { pauseMs: 1_000 }, { setWeight: 50 }];
    const release = await rollOutCanary(target, spec('B'), steps, {
      ...quiet,
      onStatus: async (status) => {
        statuses.push(status);
        const weight = /^canary at (\d+)% \(/.exec(status)?.[1];
        if (weight === undefined) return;
        // Counted alone: the background traffic would take its own turns of the round robin.
        if (!background) background = await traffic.stop();
        measured[Number(weight)] = await split(1000);
      },
    });
    expect(statuses).toEqual([
      'canary at 10% (step 1 of 3)',
      expect.stringMatching(/^canary at 10%: paused until .+Z \(1s, step 2 of 3\)$/),
      'canary at 50% (step 3 of 3)',
    ]);
    expect(measured[10]?.['B']).toBeGreaterThanOrEqual(100 - TOLERANCE);
    expect(measured[10]?.['B']).toBeLessThanOrEqual(100 + TOLERANCE);
    expect(measured[10]?.['A']).toBe(1000 - (measured[10]?.['B'] ?? 0));
    expect(measured[50]?.['B']).toBeGreaterThanOrEqual(500 - TOLERANCE);
    expect(measured[50]?.['B']).toBeLessThanOrEqual(500 + TOLERANCE);
    expect(measured[50]?.['A']).toBe(1000 - (measured[50]?.['B'] ?? 0));
    // Promoted: everything on B, A's container gone, the same address.
    expect(release.address).toBe(fixed);
    expect(await split(50)).toEqual({ B: 50 });
    expect(background?.failures).toEqual([]);
    expect(background?.answered['A']).toBeGreaterThan(0);
  });

  it('a reload under steady traffic drops no request: weights moved back and forth ten times', async () => {
    const traffic = steadyTraffic(4);
    const release = await target.apply(spec('C'), () => undefined);
    try {
      expect((await target.canary.waitHealthy(release, quiet)).healthy).toBe(true);
      for (const weight of [10, 90, 30, 70, 50, 20, 80, 40, 60, 10]) await target.canary.setWeight(release, weight, () => undefined);
    } finally {
      await target.rollBack(release, () => undefined);
    }
    const { answered, failures } = await traffic.stop();
    expect(failures).toEqual([]);
    expect(answered['C']).toBeGreaterThan(0);
    expect(await split(20)).toEqual({ B: 20 });
  });

  it('aborts a canary whose health check fails at a step: all traffic back to stable, the canary removed, the reason given', async () => {
    let canaryId = '';
    const logs: string[] = [];
    const failed = await rollOutCanary(target, spec('D'), [{ setWeight: 10 }, { pauseMs: 30_000 }, { setWeight: 50 }], {
      ...quiet,
      onLog: (l) => logs.push(l),
      onStatus: async (status) => {
        if (!status.startsWith('canary at 10% (')) return;
        const live = await docker.listContainers({ filters: { label: [`io.slipway.service=${service}`, 'io.slipway.release=run-D'] } });
        canaryId = live[0]?.Id ?? '';
        // The canary dies while it holds 10%: nginx passes its requests on to stable meanwhile.
        await docker.getContainer(canaryId).kill();
      },
    }).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(DeployFailedError);
    expect((failed as DeployFailedError).reason).toMatch(
      /^canary aborted at 10% \(step 1 of 3\): health check failed: container exited with code \d+; all traffic is back on run run-B's release$/,
    );
    expect(await gone(canaryId)).toBe(true);
    expect(await split(1000)).toEqual({ B: 1000 });
    expect(await proxy.current(service, environment)).toMatchObject({ backends: [{ role: 'stable', port: basePort + 1, weight: 100 }] });
  });

  it('blue-green through the front proxy: one switch once the new release is healthy, no failed request, the same address', async () => {
    const traffic = steadyTraffic(4);
    const release = await rollOut(target, spec('E'), quiet);
    const { answered, failures } = await traffic.stop();
    expect(failures).toEqual([]);
    expect(answered['B']).toBeGreaterThan(0);
    expect(answered['E']).toBeGreaterThan(0);
    expect(release.address).toBe(fixed);
    expect(await split(50)).toEqual({ E: 50 });
    expect(await proxy.current(service, environment)).toMatchObject({ backends: [{ role: 'canary', port: basePort, weight: 100 }] });
  });
});
