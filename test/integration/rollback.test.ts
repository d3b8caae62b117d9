import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/approvals/audit-log.js';
import type { DoraReport } from '../../src/dora/compute.js';
import { sampleServiceFiles } from '../../src/cli/sample-service.js';
import type { ReleaseEntry } from '../../src/releases/types.js';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { scrapeMetrics, valueOf } from '../helpers/prometheus-text.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Rollback on demand through a running Slipway: merges deploy v1 and v2 to the docker host, the
// `slipway` CLI (real processes) rolls back to v1, lists the history and resumes; a merge while the
// environment is paused waits and deploys after the resume.
const MAIN = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
const TSX = createRequire(import.meta.url).resolve('tsx');

function slipway(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, MAIN, ...args],
      { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

type ReleasesAnswer = { live: number | null; paused: { by: string; reason: string; release: number } | null; releases: ReleaseEntry[] };

describe('rollback on demand, release history and the pause after it', () => {
  let h: Harness;
  let project: FakeProject;
  let env: Record<string, string>;
  const suffix = randomBytes(3).toString('hex');
  const service = `rb-${suffix}`;
  const projectId = 20000 + Math.floor(Math.random() * 4000);
  const port = slotPortBase(3);
  let iid = 0;
  const base = `/api/services/${service}/environments/pre`;

  const post = async (p: string, body: unknown) => {
    const res = await fetch(`${h.url}${p}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${h.slipway.apiToken}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const merge = async (greeting: string) => {
    const sha = await commitFiles(project.bareDir, 'main', sampleServiceFiles({ port, greeting }), greeting);
    iid += 1;
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: project.pathWithNamespace, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return String(res.json['runId']);
  };
  const page = async (url: string) => (await fetch(url)).text();
  const releases = async () => (await h.api<ReleasesAnswer>(`${base}/releases`)).body;

  beforeAll(async () => {
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/${service}`, defaultBranch: 'main' });
    env = { SLIPWAY_URL: h.url, SLIPWAY_TOKEN: h.slipway.apiToken };
  });
  afterAll(async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    await h.stop();
  });

  it('each deploy is recorded: id, kind, run, commit, digest, who, why, outcome; newest first', async () => {
    const v1 = await h.waitForRun(await merge(`Hello v1 ${suffix}`));
    expect(v1.status.phase).toBe('succeeded');
    const v2 = await h.waitForRun(await merge(`Hello v2 ${suffix}`));
    expect(v2.status.phase).toBe('succeeded');
    expect(await page(v2.deployments[0]?.url ?? '')).toContain(`Hello v2 ${suffix}`);

    const list = await releases();
    expect(list.paused).toBeNull();
    expect(list.live).toBe(2);
    expect(list.releases.map((r) => [r.id, r.kind, r.runId, r.outcome, r.by])).toEqual([
      [2, 'deploy', v2.id, 'live', 'pipeline'],
      [1, 'deploy', v1.id, 'live', 'pipeline'],
    ]);
    expect(list.releases[1]).toMatchObject({ sha: v1.request.sha, image: v1.image?.ref, digest: v1.image?.digest, configRevision: null, target: 'docker' });
    expect(list.releases[1]?.reason).toContain(`pipeline ${v1.id}: merge of main`);
    // The recorded spec (it holds rendered secrets) never leaves Redis.
    expect(JSON.stringify(list)).not.toContain('"env"');
  });

  it('bad requests are refused with their status and a message naming the problem', async () => {
    expect(await post(`${base}/rollback`, {})).toMatchObject({ status: 400, body: { error: expect.stringContaining('reason') } });
    expect(await post(`${base}/rollback`, { reason: 'x', force: true })).toMatchObject({ status: 400, body: { error: expect.stringContaining('force') } });
    expect(await post(`/api/services/${service}/environments/Prod!/rollback`, { reason: 'x' })).toMatchObject({ status: 400 });
    expect(await post(`/api/services/${service}/environments/production/rollback`, { reason: 'x' })).toMatchObject({
      status: 404,
      body: { error: `no release of service ${service} in environment production is recorded: nothing was deployed there` },
    });
    expect(await post(`${base}/rollback`, { reason: 'x', release: 99 })).toMatchObject({ status: 404, body: { error: expect.stringContaining('release 99') } });
    expect(await post(`${base}/rollback`, { reason: 'x', release: 2 })).toMatchObject({
      status: 409,
      body: { error: expect.stringContaining('is what runs now') },
    });
    expect((await h.api(`${base}/releases/7`)).status).toBe(404);
    // Nothing was paused by a refused request.
    expect((await releases()).paused).toBeNull();
    const cli = await slipway(['rollback', service, 'production', '--reason', 'x'], env);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('nothing was deployed there');
    expect((await slipway(['rollback', service, 'pre'], env)).code).toBe(2);
  });

  it('slipway rollback re-applies v1 at once: v1 answers again, the history says who and why, deploys are paused', async () => {
    const r = await slipway(['rollback', service, 'pre', '--reason', 'v2 breaks checkout', '--user', 'alice'], env);
    expect(r.stderr).toContain('rollback 3: re-applying release 1');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`rolled back ${service}/pre to release 1`);
    expect(r.stdout).toContain(`slipway resume ${service} pre`);

    const list = await releases();
    expect(list.live).toBe(3);
    const [rollback] = list.releases;
    expect(rollback).toMatchObject({ id: 3, kind: 'rollback', rollbackTo: 1, outcome: 'live', by: 'alice', reason: 'v2 breaks checkout' });
    expect(rollback?.runId).toBe(list.releases[2]?.runId);
    expect(list.releases.map((x) => x.kind)).toEqual(['rollback', 'deploy', 'deploy']);
    expect(await page(rollback?.url ?? '')).toContain(`Hello v1 ${suffix}`);
    expect(list.paused).toMatchObject({ by: 'alice', reason: 'v2 breaks checkout', release: 1 });

    // The audit log has the decision, with who, why and what.
    const audit = (await h.api<{ entries: AuditEntry[] }>(`/api/audit?service=${service}&environment=pre`)).body.entries;
    expect(audit[0]).toMatchObject({
      action: 'rollback',
      outcome: 'requested',
      user: { id: null, username: 'alice' },
      source: 'cli',
      reason: 'v2 breaks checkout',
    });

    const table = await slipway(['releases', service, 'pre'], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toContain('automatic deploys are paused since the rollback to release 1 by alice');
    expect(lines[1]).toMatch(/^ID\s+KIND\s+OUTCOME/);
    expect(lines[2]).toMatch(/^\*3\s+rollback to 1\s+live .* alice .* v2 breaks checkout$/);
  });

  it('a merge while paused does not deploy: its deploy waits saying why; after slipway resume it deploys', async () => {
    const runId = await merge(`Hello v3 ${suffix}`);
    const waiting = await eventually(async () => {
      const run = (await h.api<RunRecord>(`/api/runs/${runId}`)).body;
      const job = run.jobs.find((j) => j.name === 'deploy:pre');
      expect(job?.status.phase).toBe('queued');
      expect(job?.status.reason).toMatch(
        /^waiting: automatic deploys to pre are paused since the rollback to release 1 by alice at \S+; resume with slipway resume/,
      );
      return run;
    }, 90_000);
    expect(waiting.status.phase).toBe('running');
    const live = (await releases()).releases[0];
    // A few retries later it still has not deployed.
    await new Promise((r) => setTimeout(r, 4_000));
    expect(await page(live?.url ?? '')).toContain(`Hello v1 ${suffix}`);
    expect((await releases()).releases).toHaveLength(3);

    const resumed = await slipway(['resume', service, 'pre', '--user', 'bob'], env);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`automatic deploys to ${service}/pre resumed`);
    const run = await h.waitForRun(runId);
    expect(run.status.phase).toBe('succeeded');
    expect(await page(run.deployments[0]?.url ?? '')).toContain(`Hello v3 ${suffix}`);
    const list = await releases();
    expect(list.paused).toBeNull();
    expect(list.releases.map((x) => [x.id, x.kind, x.outcome])).toEqual([
      [4, 'deploy', 'live'],
      [3, 'rollback', 'live'],
      [2, 'deploy', 'live'],
      [1, 'deploy', 'live'],
    ]);
    const audit = (await h.api<{ entries: AuditEntry[] }>(`/api/audit?service=${service}`)).body.entries;
    expect(audit[0]).toMatchObject({ action: 'resume', outcome: 'resumed', user: { username: 'bob' } });
    // Resuming again changes nothing and says so.
    const again = await slipway(['resume', service, 'pre', '--json'], env);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ status: 200, resumed: null });
  });

  it('DORA from these records: v2 rolled back on demand is the failed change, restored by the rollback; /metrics counts the rollback as on demand', async () => {
    const { status, body } = await h.api<{ reports: DoraReport[] }>(`/api/dora?service=${service}&environment=pre`);
    expect(status).toBe(200);
    const [report] = body.reports;
    const list = (await releases()).releases;
    const v2 = list.find((r) => r.id === 2);
    const rollback = list.find((r) => r.id === 3);
    expect(report).toMatchObject({
      service,
      environment: 'pre',
      deployments: { total: 3, succeeded: 2, failed: 1 },
      changeFailureRate: 0.333,
      timeToRestore: { restored: 1, open: 0 },
      // Each merge's lead time starts at its commit's authored date (GitLab's commit API; the stand-in's merge requests list none).
      leadTime: { samples: 3, unknown: 0 },
    });
    // From v2 going live to the rollback's verdict.
    expect(report?.timeToRestore.medianSeconds).toBeCloseTo((Date.parse(rollback?.endedAt ?? '') - Date.parse(v2?.at ?? '')) / 1000, 0);
    const metrics = await scrapeMetrics(h.url, h.slipway.apiToken);
    expect(valueOf(metrics.samples, 'slipway_rollbacks_total', { environment: 'pre', trigger: 'on_demand' })).toBe(1);
    expect(valueOf(metrics.samples, 'slipway_rollbacks_total', { environment: 'pre', trigger: 'automatic' })).toBe(0);
  });
});
