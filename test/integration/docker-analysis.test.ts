import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, get, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { NginxFrontProxy } from '../../src/frontproxy/nginx.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Analysis on the Docker host behind the real nginx that .ci/services.sh starts, through a running
// Slipway: a canary's `analysis:` runs at each of its steps (the previous release keeps running until
// the promotion), and blue-green's `prePromotionAnalysis` before the switch (the previous release
// serves until then). The gate is an HTTP gate stand-in served by the test, answering pass or fail.
const dir = process.env['SLIPWAY_FRONT_PROXY_DIR'] ?? '/var/tmp/slipway-services/nginx';
if (!existsSync(`${dir}/nginx.pid`)) throw new Error(`the front proxy is not running in ${dir}: run .ci/services.sh start nginx`);

const suffix = randomBytes(3).toString('hex');
let h: Harness;
let gate: Server;
let gatePort = 0;
/** What the gate answers now, and every query string it was asked with. */
let verdict: 'pass' | 'fail' = 'pass';
const asked: string[] = [];
let iid = 100;

/** One service on the Docker host with its own fixed address and slot ports. */
function service(name: 'canary' | 'bg', band: number) {
  const svc = `an-${name}-${suffix}`;
  const port = slotPortBase(band) + (name === 'bg' ? 100 : 0);
  // Below the slot-port band (20000+), apart from front-proxy.test.ts's (17000–19800) and canary-pause's (15000–16800).
  const proxyPort = 12_000 + 2 * Math.floor(Math.random() * 450) + (name === 'bg' ? 1_000 : 0);
  const projectId = 14_000 + Math.floor(Math.random() * 900) + (name === 'bg' ? 1 : 0) * 1_000;
  const strategy =
    name === 'canary'
      ? ['      analysis: [smoke]', '      strategy: { canary: { steps: [{ setWeight: 10 }, { setWeight: 50 }] } }']
      : ['      strategy: { blue-green: { prePromotionAnalysis: [smoke] } }'];
  const pipeline = [
    `build: { image: demo/${svc} }`,
    'deploy:',
    `  service: ${svc}`,
    '  analysis:',
    '    smoke:',
    '      metrics:',
    '        - name: smoke',
    `          provider: { http: { url: "http://127.0.0.1:${gatePort}/smoke?service=\${SLIPWAY_SERVICE}&slot=\${SLIPWAY_NEW_SLOT}", timeout: 5s } }`,
    '  environments:',
    '    staging:',
    `      port: ${port}`,
    '      health: /healthz',
    '      timeout: 30s',
    '      approval: false',
    `      front_proxy: { port: ${proxyPort} }`,
    ...strategy,
    '',
  ].join('\n');
  let project: FakeProject;
  return {
    svc,
    proxyPort,
    projectId,
    async setUp() {
      project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/${svc}`, defaultBranch: 'main' });
    },
    /** Merges a commit whose page says `version`; resolves with the run once it ends. */
    async merge(version: string): Promise<{ run: RunRecord; sha: string }> {
      iid += 1;
      const sha = await commitFiles(
        project.bareDir,
        'main',
        {
          // The canary's step analysis names no slot: the ${SLIPWAY_NEW_SLOT} of the URL is only set for blue-green's gates.
          '.slipway.yml': name === 'canary' ? pipeline.replace('&slot=${SLIPWAY_NEW_SLOT}', '') : pipeline,
          Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
          'www/healthz': 'ok\n',
          'www/index.html': `${version}\n`,
        },
        `Merge ${version}`,
      );
      h.gitlab.addMergeRequest(projectId, { iid, authorId: 203 });
      const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: `team/${svc}`, sha, iid }), WEBHOOK_SECRET);
      expect(res.status).toBe(202);
      return { run: await h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 120_000), sha };
    },
    /** `n` requests through the fixed address, counted by the page that answered. */
    async split(n: number): Promise<Record<string, number>> {
      const counts: Record<string, number> = {};
      for (let i = 0; i < n; i++) {
        const body = await fetchPage(proxyPort);
        counts[body] = (counts[body] ?? 0) + 1;
      }
      return counts;
    },
    async containers() {
      return dockerFromEnv().listContainers({ all: true, filters: { label: [`io.slipway.service=${svc}`] } });
    },
  };
}

function fetchPage(port: number): Promise<string> {
  return new Promise<string>((resolve) => {
    const req = get(`http://127.0.0.1:${port}/index.html`, { agent: false, timeout: 5_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve(res.statusCode === 200 ? text.trim() : `HTTP ${res.statusCode}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(`failed: ${e.message}`));
  });
}

const deployReason = (run: RunRecord) => run.jobs.find((j) => j.name === 'deploy:staging')?.status.reason ?? '';
const deployLog = async (run: RunRecord) => (await h.slipway.store.readLog(run.id)).filter((l) => l.job === 'deploy:staging').map((l) => l.line);

let canary: ReturnType<typeof service>;
let bg: ReturnType<typeof service>;

beforeAll(async () => {
  gate = createServer((req, res) => {
    asked.push(req.url ?? '');
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(verdict === 'pass' ? { pass: true } : { pass: false, reason: 'smoke test: checkout answered 500' }));
  });
  await new Promise<void>((resolve) => gate.listen(0, '127.0.0.1', resolve));
  const address = gate.address();
  gatePort = typeof address === 'object' && address ? address.port : 0;
  h = await startHarness({ env: { SLIPWAY_FRONT_PROXY_DIR: dir } });
  canary = service('canary', 11);
  bg = service('bg', 11);
  await canary.setUp();
  await bg.setUp();
}, 60_000);

afterAll(async () => {
  const docker = dockerFromEnv();
  for (const s of [canary, bg]) {
    if (!s) continue;
    await Promise.all((await s.containers()).map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await new NginxFrontProxy({ dir }).removeRoute(s.svc, 'staging');
  }
  const unexpected = h?.gitlab.unexpectedCalls() ?? [];
  await h?.stop();
  await new Promise<void>((resolve) => gate.close(() => resolve()));
  expect(unexpected).toEqual([]);
});

describe("a canary's step analysis on the Docker host, through the real nginx", { timeout: 300_000 }, () => {
  it('passing at both steps, the canary is promoted', async () => {
    verdict = 'pass';
    const first = await canary.merge('c1');
    expect(first.run.status.phase, first.run.status.reason).toBe('succeeded');
    const second = await canary.merge('c2');
    expect(second.run.status.phase, second.run.status.reason).toBe('succeeded');
    const log = await deployLog(second.run);
    expect(log).toContain('analysis at 10% (step 1 of 2): smoke');
    expect(log).toContain('analysis at 50% (step 2 of 2): smoke');
    expect(await canary.split(20)).toEqual({ c2: 20 });
    expect(await canary.containers()).toHaveLength(1);
  });

  it('failing at its first step, the canary is aborted: every request on stable, the canary removed, the reason in the run and the commit status', async () => {
    verdict = 'fail';
    const t0 = Date.now();
    const { run, sha } = await canary.merge('c3');
    expect(run.status.phase).toBe('failed');
    const reason = deployReason(run);
    const m =
      /^deploy to staging failed: canary aborted at 10% \(step 1 of 2\): step gate failed: analysis smoke failed 1 of 1 measurements \(limit 0\): GET http:\/\/127\.0\.0\.1:\d+\/smoke = HTTP 200, pass false: smoke test: checkout answered 500 at (\S+), needs .*; all traffic is back on run (\S+)'s release$/.exec(
        reason,
      );
    expect(m, reason).not.toBeNull();
    expect(Date.parse(m?.[1] ?? '')).toBeGreaterThan(t0);
    expect(await canary.split(100)).toEqual({ c2: 100 });
    expect(await canary.containers()).toHaveLength(1);
    const status = h.gitlab
      .statuses(canary.projectId, sha)
      .filter((s) => s.name === 'slipway/deploy:staging')
      .at(-1);
    expect(status).toMatchObject({ status: 'failed', description: reason.slice(0, 255) });
  });
});

describe("blue-green's prePromotionAnalysis on the Docker host, through the real nginx", { timeout: 300_000 }, () => {
  let live = '';
  it('passing, the new release is switched to', async () => {
    verdict = 'pass';
    const first = await bg.merge('b1');
    expect(first.run.status.phase, first.run.status.reason).toBe('succeeded');
    expect(await deployLog(first.run)).toContain('no previous release: prePromotionAnalysis is skipped on a first deploy, as Argo Rollouts does');
    asked.length = 0;
    const second = await bg.merge('b2');
    expect(second.run.status.phase, second.run.status.reason).toBe('succeeded');
    live = second.run.id;
    // Asked about the new release's slot, before the switch.
    expect(asked).toEqual([`/smoke?service=${bg.svc}&slot=green`]);
    expect(await bg.split(20)).toEqual({ b2: 20 });
  });

  it('failing, the switch never happens: the fixed address serves the previous release throughout, the new one is removed', async () => {
    verdict = 'fail';
    const answers: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        answers.push(await fetchPage(bg.proxyPort));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    let result: { run: RunRecord; sha: string };
    try {
      result = await bg.merge('b3');
    } finally {
      polling = false;
      await poller;
    }
    // Polled throughout the merge (tests, image, deploy: a second or more, 50 ms apart), not a count of its length.
    expect(answers.length).toBeGreaterThan(5);
    expect(answers.filter((a) => a !== 'b2')).toEqual([]);
    const { run } = result;
    expect(run.status.phase).toBe('failed');
    expect(deployReason(run)).toMatch(
      new RegExp(
        `^deploy to staging failed, rolled back to run ${live}: prePromotionAnalysis failed, not switched: analysis smoke failed 1 of 1 measurements \\(limit 0\\): GET http://127\\.0\\.0\\.1:\\d+/smoke = HTTP 200, pass false: smoke test: checkout answered 500 at \\S+`,
      ),
    );
    expect(await bg.containers()).toHaveLength(1);
  });
});
