import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/approvals/audit-log.js';
import type { JobRecord, RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

const MAIN = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
const TSX = createRequire(import.meta.url).resolve('tsx');

// Approvals through a running Slipway and the GitLab stand-in: who approves is the owner of the
// GitLab token sent along, and whether they may is asked of GitLab at that moment. Real deploys on
// the Docker host follow an approval that satisfies the rule.
describe('approvals', () => {
  let h: Harness;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const service = `appr-${suffix}`;
  const projectId = 14000 + Math.floor(Math.random() * 1000);
  const port = slotPortBase(8);
  const path_ = `team/${service}`;
  let iid = 10;
  // ann and bert: Maintainers. dev: a Developer. carol: a Maintainer who wrote the merge request.
  // sytses: a Maintainer who merged it (the fixture's user). rm: only in team/release-managers.
  const tokens: Record<string, string> = {};

  const pipeline = [
    'smoke:',
    '  stage: deploy',
    '  needs: []',
    '  image: slipway/busybox:1',
    '  when: manual',
    '  script: [echo smoke ran]',
    `build: { image: demo/${service} }`,
    'deploy:',
    `  service: ${service}`,
    '  environments:',
    `    pre: { port: ${port}, health: /healthz, timeout: 30s, approval: { required: 2, groups: [team/release-managers], min_access: maintainer } }`,
    `    production: { port: ${port + 100}, health: /healthz, timeout: 30s }`,
    '',
  ].join('\n');

  const merge = async () => {
    iid += 1;
    const sha = await commitFiles(
      project.bareDir,
      'main',
      {
        '.slipway.yml': pipeline,
        Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
        'www/healthz': 'ok\n',
        'www/index.html': `<h1>${service} ${iid}</h1>\n`,
      },
      `Merge ${iid}`,
    );
    h.gitlab.addMergeRequest(projectId, { iid, authorId: 204 });
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: path_, sha, iid }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 60_000).catch(async (e: unknown) => {
      const r = await h.slipway.store.get(String(res.json['runId']));
      console.log(JSON.stringify({ status: r?.status, jobs: r?.jobs.map((j) => [j.name, j.status]) }, null, 1), h.logs.slice(-30).join('\n'));
      throw e;
    });
  };

  const decide = async (runId: string, job: string, action: 'approve' | 'reject', who: string, body: object = {}) => {
    // A deploy step is also addressed by its environment (POST /api/runs/:id/environments/:env/approve).
    const step = job.startsWith('deploy:') ? `environments/${encodeURIComponent(job.slice('deploy:'.length))}` : `jobs/${encodeURIComponent(job)}`;
    const res = await fetch(`${h.url}/api/runs/${runId}/${step}/${action}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${h.slipway.apiToken}`, 'X-Gitlab-Approver-Token': tokens[who] ?? who, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { error?: string; rule?: string; started?: boolean; approvedBy?: string[]; job?: JobRecord } };
  };
  const jobOf = async (runId: string, name: string) => (await h.slipway.store.getJob(runId, name))?.status;
  const waitJob = (runId: string, name: string, phase: JobRecord['status']['phase']) =>
    eventually(async () => expect((await jobOf(runId, name))?.phase).toBe(phase), 90_000);
  const audit = async (query: string) => (await h.api<{ entries: AuditEntry[] }>(`/api/audit${query}`)).body.entries;

  beforeAll(async () => {
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: path_, defaultBranch: 'main' });
    const people: Array<[number, string, number | null]> = [
      [201, 'ann', 40],
      [202, 'bert', 40],
      [203, 'dev', 30],
      [204, 'carol', 40],
      [51764, 'sytses', 40],
      [205, 'rm', null],
    ];
    for (const [id, username, level] of people) {
      tokens[username] = h.gitlab.addUser({ id, username }).token;
      if (level !== null) h.gitlab.setMember(projectId, id, level);
    }
    h.gitlab.setGroupMember('team/release-managers', 205, 30);
  });
  afterAll(async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    const unexpected = h.gitlab.unexpectedCalls();
    await h.stop();
    expect(unexpected).toEqual([]);
  });

  let first: RunRecord;

  it('says who may approve a waiting step', async () => {
    first = await merge();
    expect(first.status.phase).toBe('succeeded');
    const status = Object.fromEntries(first.jobs.map((j) => [j.name, j.status]));
    expect(status['deploy:pre']).toMatchObject({
      phase: 'manual',
      reason: `waiting: 2 more approvals by a Maintainer of ${path_} or a member of team/release-managers`,
    });
    expect(status['smoke']).toMatchObject({ phase: 'manual', reason: `manual job: waiting for a Developer of ${path_} to start it` });
    expect(status['deploy:production']?.phase).toBe('pending');
  });

  it('a manual job is started by a Developer, with no second action', async () => {
    const r = await decide(first.id, 'smoke', 'approve', 'dev');
    expect(r.status).toBe(200);
    expect(r.body.started).toBe(true);
    await waitJob(first.id, 'smoke', 'success');
  });

  it('two distinct approvers: the first waits, the same person again is refused, a member of the named group completes it and the deploy runs', async () => {
    const one = await decide(first.id, 'deploy:pre', 'approve', 'ann');
    expect(one.status).toBe(200);
    expect(one.body.started).toBe(false);
    expect(one.body.job?.status).toMatchObject({
      phase: 'manual',
      reason: `waiting: 1 more approval by a Maintainer of ${path_} or a member of team/release-managers (approved by @ann)`,
    });

    const again = await decide(first.id, 'deploy:pre', 'approve', 'ann');
    expect(again.status).toBe(409);
    expect(again.body.error).toContain('@ann already approved deploy:pre: 2 distinct approvers are needed');

    const dev = await decide(first.id, 'deploy:pre', 'approve', 'dev');
    expect(dev.status).toBe(403);
    expect(dev.body.error).toBe(
      `@dev is Developer (30) of ${path_}, is in none of team/release-managers: only a Maintainer of ${path_} or a member of team/release-managers may decide this step`,
    );

    const two = await decide(first.id, 'deploy:pre', 'approve', 'rm');
    expect(two.status).toBe(200);
    expect(two.body.started).toBe(true);
    expect(two.body.approvedBy).toEqual(['ann', 'rm']);
    await waitJob(first.id, 'deploy:pre', 'success');
    const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => fetch(`http://127.0.0.1:${port + 1}/healthz`));
    expect(res.status).toBe(200);
  });

  it('production: a Developer is refused, the authors are refused, a Maintainer approves and the deploy runs', async () => {
    await waitJob(first.id, 'deploy:production', 'manual');
    expect((await jobOf(first.id, 'deploy:production'))?.reason).toBe(`waiting: 1 more approval by a Maintainer of ${path_}; authors excluded`);

    const dev = await decide(first.id, 'deploy:production', 'approve', 'dev');
    expect(dev.status).toBe(403);
    expect(dev.body.error).toBe(`@dev is Developer (30) of ${path_}: only a Maintainer of ${path_} may decide this step`);
    expect(dev.body.rule).toBe(`1 approval by a Maintainer of ${path_} (or a higher role); authors excluded`);

    const merger = await decide(first.id, 'deploy:production', 'approve', 'sytses');
    expect(merger.status).toBe(403);
    expect(merger.body.error).toBe('@sytses triggered the pipeline: authors may not approve their own change (approval.allow_author: false)');
    const writer = await decide(first.id, 'deploy:production', 'approve', 'carol');
    expect(writer.status).toBe(403);
    expect(writer.body.error).toBe(`@carol wrote merge request !${iid}: authors may not approve their own change (approval.allow_author: false)`);

    const bogus = await decide(first.id, 'deploy:production', 'approve', 'glpat-nobody-has-this');
    expect(bogus.status).toBe(401);
    expect((await jobOf(first.id, 'deploy:production'))?.phase).toBe('manual');

    const ok = await decide(first.id, 'deploy:production', 'approve', 'bert');
    expect(ok.status).toBe(200);
    expect(ok.body.started).toBe(true);
    await waitJob(first.id, 'deploy:production', 'success');
    const done = await h.waitForRun(first.id, ['succeeded', 'failed'], 90_000);
    expect(done.status.phase).toBe('succeeded');
    expect(done.deployments.map((d) => d.environment).sort()).toEqual(['pre', 'production']);
  });

  it('a rejection (from the CLI) ends the step with its reason, shown like a failure', async () => {
    const second = await merge();
    expect(second.jobs.find((j) => j.name === 'deploy:pre')?.status.phase).toBe('manual');
    const cli = await slipwayCli(['reject', second.id, 'deploy:pre', '--reason', 'release freeze until Monday', '--json'], {
      SLIPWAY_URL: h.url,
      SLIPWAY_TOKEN: h.slipway.apiToken,
      SLIPWAY_GITLAB_TOKEN: tokens['ann'] ?? '',
    });
    expect(cli.stderr).toBe('');
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({
      status: 200,
      decision: 'rejected',
      job: { status: { phase: 'failed', reason: 'rejected by @ann: release freeze until Monday' } },
    });

    const run = await h.waitForRun(second.id, ['failed'], 30_000);
    expect(run.status.reason).toBe('rejected by @ann: release freeze until Monday');
    expect(run.jobs.find((j) => j.name === 'deploy:production')?.status.phase).toBe('skipped');
    await eventually(() => {
      const s = h.gitlab
        .statuses(projectId, run.request.sha)
        .filter((x) => x.name === 'slipway/deploy:pre')
        .at(-1);
      expect(s).toMatchObject({ status: 'failed', description: 'rejected by @ann: release freeze until Monday' });
      // The note breaks @mentions with a zero-width joiner, so GitLab does not ping anyone.
      expect(h.gitlab.notes(projectId, iid).at(-1)?.body).toContain('| deploy:pre | ❌ failed | rejected by @\u200dann: release freeze until Monday |');
    });

    // A refusal exits 1 and says why; no reason is bad usage.
    const late = await slipwayCli(['approve', second.id, 'deploy:pre'], {
      SLIPWAY_URL: h.url,
      SLIPWAY_TOKEN: h.slipway.apiToken,
      SLIPWAY_GITLAB_TOKEN: tokens['bert'] ?? '',
    });
    expect(late.code).toBe(1);
    expect(late.stderr).toContain('deploy:pre is not waiting for an approval (it is failed: rejected by @ann: release freeze until Monday)');
    const noReason = await decide(second.id, 'deploy:production', 'reject', 'ann');
    expect(noReason.status).toBe(400);
  });

  it('the audit log lists each decision: who, when, where from, the rule and why; filtered by service, environment and time', async () => {
    const production = await audit(`?service=${service}&environment=production`);
    expect(production.map((e) => [e.user.username, e.outcome, e.source])).toEqual([
      ['bert', 'approved', 'api'],
      ['carol', 'refused', 'api'],
      ['sytses', 'refused', 'api'],
      ['dev', 'refused', 'api'],
    ]);
    const approved = production[0];
    expect(approved).toMatchObject({
      action: 'approve',
      started: true,
      runId: first.id,
      job: 'deploy:production',
      environment: 'production',
      service,
      project: { id: projectId, path: path_ },
      sha: first.request.sha,
      rule: `1 approval by a Maintainer of ${path_} (or a higher role); authors excluded`,
      detail: `@bert is Maintainer (40) of ${path_}; approval 1 of 1: the step starts`,
    });
    expect(approved?.digest).toMatch(/^sha256:/);

    const pre = await audit(`?service=${service}&environment=pre`);
    expect(pre.map((e) => [e.user.username, e.action, e.outcome, e.source])).toEqual([
      ['bert', 'approve', 'refused', 'cli'],
      ['ann', 'reject', 'rejected', 'cli'],
      ['rm', 'approve', 'approved', 'api'],
      ['dev', 'approve', 'refused', 'api'],
      ['ann', 'approve', 'refused', 'api'],
      ['ann', 'approve', 'approved', 'api'],
    ]);
    expect(pre[1]).toMatchObject({ reason: 'release freeze until Monday', detail: `@ann is Maintainer (40) of ${path_}` });
    expect(pre[2]?.detail).toBe('@rm is a member of team/release-managers; approval 2 of 2: the step starts');

    const all = await audit(`?service=${service}`);
    expect(all.filter((e) => e.job === 'smoke').map((e) => [e.user.username, e.outcome, e.environment])).toEqual([['dev', 'approved', null]]);
    const middle = all.find((e) => e.user.username === 'rm');
    const since = await audit(`?service=${service}&since=${encodeURIComponent(middle?.at ?? '')}`);
    expect(since.at(-1)?.user.username).toBe('rm');
    expect(await audit(`?service=${service}&until=2000-01-01T00:00:00Z`)).toEqual([]);
    expect(await audit('?service=no-such-service')).toEqual([]);
    expect((await h.api<{ error: string }>('/api/audit?since=yesterday')).status).toBe(400);
  });
});

function slipwayCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, MAIN, ...args],
      { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
  });
}
