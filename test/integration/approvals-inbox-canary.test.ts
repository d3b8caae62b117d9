import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord, RunRecord } from '../../src/runs/types.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { NginxFrontProxy } from '../../src/frontproxy/nginx.js';
import { eventually } from '../helpers/eventually.js';
import { scrapeMetrics, valueOf } from '../helpers/prometheus-text.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { mergePausedCanary, PAUSED_CANARY_JOB, pausedCanaryPipeline } from '../helpers/paused-canary.js';
import { startHarness, type Harness } from '../helpers/slipway-harness.js';
import { signIn, type WebSession } from '../helpers/web-session.js';

// The web approvals inbox and `slipway_approvals_waiting` count a canary waiting at a `pause: {}`
// beside the deploy steps waiting as manual, and its Approve / Reject forms decide the pause, under
// the environment's approval rule. A running Slipway on the docker host behind the real nginx.
const dir = process.env['SLIPWAY_FRONT_PROXY_DIR'] ?? '/var/tmp/slipway-services/nginx';
if (!existsSync(`${dir}/nginx.pid`)) throw new Error(`the front proxy is not running in ${dir}: run .ci/services.sh start nginx`);

describe('paused canaries in the approvals inbox', { timeout: 240_000 }, () => {
  let h: Harness;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const service = `inbox-${suffix}`;
  const projectId = 18000 + Math.floor(Math.random() * 1000);
  const port = slotPortBase(1); // band 11 is docker-analysis.test.ts's
  // Above canary-pause.test.ts's proxy ports (15000–16798), below front-proxy.test.ts's (17000+).
  const proxyPort = 16_800 + 2 * Math.floor(Math.random() * 100);
  const path_ = `team/${service}`;
  const job = PAUSED_CANARY_JOB;
  let iid = 10;
  let ann: WebSession;
  let dev: WebSession;

  const pipeline = pausedCanaryPipeline(service, port, proxyPort);

  const merge = async (): Promise<RunRecord> => {
    iid += 1;
    return mergePausedCanary(h, project, { projectId, path: path_, pipeline, iid });
  };
  const inbox = async (who: WebSession) => {
    const res = await fetch(`${h.url}/approvals`, { headers: { cookie: who.cookie } });
    expect(res.status).toBe(200);
    return res.text();
  };
  /** What the inbox's forms post: the session's CSRF token, back to the inbox. */
  const decide = async (who: WebSession, runId: string, action: 'approve' | 'reject', reason?: string) =>
    fetch(`${h.url}/runs/${runId}/jobs/${encodeURIComponent(job)}/${action}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: who.cookie, 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: new URLSearchParams({ _csrf: who.csrf, back: '/approvals', ...(reason ? { reason } : {}) }),
    });
  const statusOf = async (runId: string) => (await h.slipway.store.getJob(runId, job))?.status;
  const waitStatus = (runId: string, expected: Partial<JobRecord['status']>) =>
    eventually(async () => expect(await statusOf(runId)).toMatchObject(expected), 120_000);
  const waitingMetric = async () => valueOf((await scrapeMetrics(h.url, h.slipway.apiToken)).samples, 'slipway_approvals_waiting');
  const PAUSED = 'canary at 10% (step 2 of 3) waits for approval';

  /** A merged change whose deploy step is approved from the inbox, then waits at its canary pause. */
  const pausedRun = async (): Promise<RunRecord> => {
    const run = await merge();
    expect(await inbox(ann)).toContain(`${job}</a> of run ${run.id}`);
    const approved = await decide(ann, run.id, 'approve');
    expect(approved.status).toBe(303);
    expect(approved.headers.get('location')).toBe('/approvals');
    await waitStatus(run.id, { phase: 'running', reason: 'canary at 10%: waiting for an approval (step 2 of 3)' });
    return run;
  };

  beforeAll(async () => {
    h = await startHarness({ env: { SLIPWAY_FRONT_PROXY_DIR: dir } });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: path_, defaultBranch: 'main' });
    const annToken = h.gitlab.addUser({ id: 201, username: 'ann' }).token;
    const devToken = h.gitlab.addUser({ id: 203, username: 'dev' }).token;
    h.gitlab.setMember(projectId, 201, 40);
    h.gitlab.setMember(projectId, 203, 30);
    ann = await signIn(h.url, annToken);
    dev = await signIn(h.url, devToken);
    // The first release: no stable one yet, so its canary is promoted once healthy.
    const first = await merge();
    expect((await decide(ann, first.id, 'approve')).status).toBe(303);
    await waitStatus(first.id, { phase: 'success' });
  });
  afterAll(async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await new NginxFrontProxy({ dir }).removeRoute(service, 'staging');
    const unexpected = h?.gitlab.unexpectedCalls();
    await h?.stop();
    expect(unexpected).toEqual([]);
  });

  it('lists a paused canary with what it waits for, counts it, and resumes it when approved from the inbox', async () => {
    const run = await pausedRun();
    const page = await inbox(ann);
    expect(page).toContain(PAUSED);
    expect(page).toContain(`action="/runs/${run.id}/jobs/${encodeURIComponent(job)}/approve"`);
    expect(await waitingMetric()).toBe(1);

    // A Developer is not let decide by the Maintainer rule: not in their inbox, refused if they post anyway.
    expect(await inbox(dev)).toContain('Nothing waits for your approval.');
    const refused = await decide(dev, run.id, 'approve');
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain(`@dev is Developer (30) of ${path_}: only a Maintainer of ${path_} may decide this step`);
    expect((await statusOf(run.id))?.reason).toBe('canary at 10%: waiting for an approval (step 2 of 3)');

    const ok = await decide(ann, run.id, 'approve');
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/approvals');
    await waitStatus(run.id, { phase: 'success' });
    expect(await inbox(ann)).not.toContain(PAUSED);
    expect(await waitingMetric()).toBe(0);
  });

  it('aborts a paused canary rejected from the inbox, with the reason', async () => {
    const run = await pausedRun();
    expect(await waitingMetric()).toBe(1);
    const no = await decide(ann, run.id, 'reject', 'error budget spent');
    expect(no.status).toBe(303);
    await waitStatus(run.id, { phase: 'failed' });
    expect((await statusOf(run.id))?.reason).toMatch(/^deploy to staging failed: canary aborted at 10% \(step 2 of 3\): rejected by @ann: error budget spent/);
    expect(await inbox(ann)).toContain('Nothing waits for your approval.');
    expect(await waitingMetric()).toBe(0);
  });
});
