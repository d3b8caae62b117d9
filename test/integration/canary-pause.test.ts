import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { get } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobRecord, RunRecord } from '../../src/runs/types.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { NginxFrontProxy } from '../../src/frontproxy/nginx.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, fixture } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { mergePausedCanary, PAUSED_CANARY_JOB, pausedCanaryPipeline } from '../helpers/paused-canary.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// A canary's `pause: {}` through a running Slipway, on the Docker host behind the real nginx that
// .ci/services.sh starts: the canary waits at its weight until the approvals API decides, with the
// environment's approval rule applied; an approval resumes it, a rejection aborts it.
const dir = process.env['SLIPWAY_FRONT_PROXY_DIR'] ?? '/var/tmp/slipway-services/nginx';
if (!existsSync(`${dir}/nginx.pid`)) throw new Error(`the front proxy is not running in ${dir}: run .ci/services.sh start nginx`);

describe('a canary paused for an approval (docker host, real nginx)', { timeout: 240_000 }, () => {
  let h: Harness;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const service = `cpause-${suffix}`;
  const projectId = 16000 + Math.floor(Math.random() * 1000);
  const port = slotPortBase(4);
  // Below the slot-port band (20000+), apart from front-proxy.test.ts's (17000–19800).
  const proxyPort = 15_000 + 2 * Math.floor(Math.random() * 900);
  const path_ = `team/${service}`;
  const job = PAUSED_CANARY_JOB;
  let iid = 10;
  const tokens: Record<string, string> = {};
  /** The run the first test promotes: stable when the second one is rejected. */
  let promoted = '';

  const pipeline = pausedCanaryPipeline(service, port, proxyPort);

  /** Merges a commit whose page names it ("v<iid>"); the run ends with its deploy waiting for its approval. */
  const merge = async (): Promise<RunRecord> => {
    iid += 1;
    return mergePausedCanary(h, project, { projectId, path: path_, pipeline, iid });
  };

  const decide = async (runId: string, action: 'approve' | 'reject', who: string, body: object = {}) => {
    const res = await fetch(`${h.url}/api/runs/${runId}/environments/staging/${action}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${h.slipway.apiToken}`, 'X-Gitlab-Approver-Token': tokens[who] ?? who, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { error?: string; rule?: string; started?: boolean; approvedBy?: string[]; job?: JobRecord } };
  };
  const statusOf = async (runId: string) => (await h.slipway.store.getJob(runId, job))?.status;
  const waitStatus = (runId: string, expected: Partial<JobRecord['status']>) =>
    eventually(async () => expect(await statusOf(runId)).toMatchObject(expected), 120_000);

  /** `n` requests through the fixed address, counted by the page that answered. */
  const split = async (n: number): Promise<Record<string, number>> => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const body = await new Promise<string>((resolve) => {
        const req = get(`http://127.0.0.1:${proxyPort}/index.html`, { agent: false, timeout: 5_000 }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve(res.statusCode === 200 ? text.trim() : `HTTP ${res.statusCode}`));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', (e) => resolve(`failed: ${e.message}`));
      });
      counts[body] = (counts[body] ?? 0) + 1;
    }
    return counts;
  };

  beforeAll(async () => {
    h = await startHarness({ env: { SLIPWAY_FRONT_PROXY_DIR: dir } });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: path_, defaultBranch: 'main' });
    const people: Array<[number, string, number]> = [
      [201, 'ann', 40],
      [202, 'bert', 40],
      [203, 'dev', 30],
      [51764, 'sytses', 40],
    ];
    for (const [id, username, level] of people) {
      tokens[username] = h.gitlab.addUser({ id, username }).token;
      h.gitlab.setMember(projectId, id, level);
    }
    // The first release: no stable one to compare with, so it is promoted once healthy.
    const first = await merge();
    expect((await decide(first.id, 'approve', 'ann')).status).toBe(200);
    await waitStatus(first.id, { phase: 'success' });
    expect(await split(10)).toEqual({ v11: 10 });
  });
  afterAll(async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await new NginxFrontProxy({ dir }).removeRoute(service, 'staging');
    const unexpected = h.gitlab.unexpectedCalls();
    await h.stop();
    expect(unexpected).toEqual([]);
  });

  it("waits at 10% saying so; a Developer's approval is refused, a Maintainer's resumes it to 50% and promotion", async () => {
    const run = await merge();
    expect((await decide(run.id, 'approve', 'ann')).body.started).toBe(true);
    await waitStatus(run.id, { phase: 'running', reason: 'canary at 10%: waiting for an approval (step 2 of 3)' });
    // Still at 10% while it waits: nginx's weighted round robin gives exactly 10 of every 100.
    expect(await split(100)).toEqual({ v11: 90, v12: 10 });

    const dev = await decide(run.id, 'approve', 'dev');
    expect(dev.status).toBe(403);
    expect(dev.body.error).toBe(`@dev is Developer (30) of ${path_}: only a Maintainer of ${path_} may decide this step`);
    expect((await statusOf(run.id))?.reason).toBe('canary at 10%: waiting for an approval (step 2 of 3)');

    const ok = await decide(run.id, 'approve', 'bert');
    expect(ok.status).toBe(200);
    expect(ok.body.started).toBe(true);
    expect(ok.body.approvedBy).toEqual(['bert']);
    await waitStatus(run.id, { phase: 'success' });
    promoted = run.id;
    const log = (await h.slipway.store.readLog(run.id)).map((l) => l.line).filter((l) => l.startsWith('approved by') || l.startsWith('front proxy'));
    // Routes: stable alone while the canary starts, 10%, then (only after the approval) 50%, then the canary alone.
    const after = log.slice(log.indexOf('approved by @bert: resuming the canary after step 2 of 3'));
    expect(after.length).toBeGreaterThan(1);
    expect(after[1]).toMatch(/stable \S+ 50%, canary \S+ 50%$/);
    expect(log.slice(0, log.length - after.length).some((l) => / 50%/.test(l))).toBe(false);
    expect(await split(20)).toEqual({ v12: 20 });

    // The job no longer waits: a late approval is refused.
    const late = await decide(run.id, 'approve', 'ann');
    expect(late.status).toBe(409);
  });

  it('a rejection aborts the canary with its reason: all traffic back to stable, the canary removed', async () => {
    const run = await merge();
    expect((await decide(run.id, 'approve', 'ann')).body.started).toBe(true);
    await waitStatus(run.id, { phase: 'running', reason: 'canary at 10%: waiting for an approval (step 2 of 3)' });
    const no = await decide(run.id, 'reject', 'bert', { reason: 'p99 latency doubled' });
    expect(no.status).toBe(200);
    await waitStatus(run.id, { phase: 'failed' });
    expect((await statusOf(run.id))?.reason).toBe(
      `deploy to staging failed: canary aborted at 10% (step 2 of 3): rejected by @bert: p99 latency doubled; all traffic is back on run ${promoted}'s release`,
    );
    expect(await split(20)).toEqual({ v12: 20 });
    const docker = dockerFromEnv();
    const left = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    expect(left).toHaveLength(1);
  });

  it('an /approve comment on the merge request resumes a paused canary', async () => {
    const run = await merge();
    expect((await decide(run.id, 'approve', 'ann')).body.started).toBe(true);
    await waitStatus(run.id, { phase: 'running', reason: 'canary at 10%: waiting for an approval (step 2 of 3)' });
    const body = fixture('note-hook-merge-request.json') as Record<string, Record<string, unknown>>;
    body['user'] = { ...body['user'], id: 202, username: 'bert' };
    body['project'] = { ...body['project'], id: projectId, path_with_namespace: path_, default_branch: 'main' };
    body['object_attributes'] = { ...body['object_attributes'], note: '/approve', action: 'create', system: false, noteable_type: 'MergeRequest' };
    body['merge_request'] = { ...body['merge_request'], iid };
    expect((await deliver(h.url, 'Note Hook', body, WEBHOOK_SECRET)).status).toBe(202);
    await waitStatus(run.id, { phase: 'success' });
    expect(await split(20)).toEqual({ [`v${iid}`]: 20 });
  });
});
