import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/approvals/audit-log.js';
import type { JobRecord, RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, fixture, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Commands from merge-request comments (Note Hook) through a running Slipway and the GitLab
// stand-in: they act for the comment's author with the approvals API's permission check, and are
// answered in Slipway's one MR note.
describe('merge request comment commands', () => {
  let h: Harness;
  let project: FakeProject;
  const suffix = randomBytes(3).toString('hex');
  const service = `mrc-${suffix}`;
  const projectId = 16000 + Math.floor(Math.random() * 1000);
  const port = slotPortBase(9);
  const path_ = `team/${service}`;
  const iid = 21;
  const BOT = { id: 1, username: 'slipway-bot' };
  const ANN = { id: 301, username: 'ann' };
  const DEV = { id: 303, username: 'dev' };
  const GUEST = { id: 304, username: 'guest' };

  const pipeline = [
    `build: { image: demo/${service} }`,
    'deploy:',
    `  service: ${service}`,
    '  environments:',
    `    pre: { port: ${port}, health: /healthz, timeout: 30s }`,
    `    production: { port: ${port + 100}, health: /healthz, timeout: 30s }`,
    '',
  ].join('\n');

  const comment = async (user: { id: number; username: string }, note: string, action: 'create' | 'update' = 'create', mr = iid) => {
    const body = fixture('note-hook-merge-request.json') as Record<string, Record<string, unknown>>;
    body['user'] = { ...body['user'], ...user };
    body['project'] = { ...body['project'], id: projectId, path_with_namespace: path_, default_branch: 'main' };
    body['object_attributes'] = { ...body['object_attributes'], note, action, system: false, noteable_type: 'MergeRequest' };
    body['merge_request'] = { ...body['merge_request'], iid: mr };
    const res = await deliver(h.url, 'Note Hook', body, WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return res.json;
  };
  const note = (mr = iid) =>
    h.gitlab
      .notes(projectId, mr)
      .map((n) => n.body)
      .join('\n');
  const waitNote = (text: string, mr = iid) => eventually(async () => expect(note(mr)).toContain(text), 30_000);
  const jobOf = async (runId: string, name: string) => (await h.slipway.store.getJob(runId, name))?.status;
  const waitJob = (runId: string, name: string, phase: JobRecord['status']['phase']) =>
    eventually(async () => expect((await jobOf(runId, name))?.phase).toBe(phase), 90_000);

  let run: RunRecord;

  const merge = async (mr: number, page: string) => {
    const sha = await commitFiles(
      project.bareDir,
      'main',
      {
        '.slipway.yml': pipeline,
        Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
        'www/healthz': 'ok\n',
        'www/index.html': `${page}\n`,
      },
      `Merge !${mr}`,
    );
    h.gitlab.addMergeRequest(projectId, { iid: mr, authorId: 302 });
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: path_, sha, iid: mr }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    const done = await h.waitForRun(String(res.json['runId']), ['succeeded', 'failed', 'canceled'], 90_000);
    await waitJob(done.id, 'deploy:production', 'manual');
    return done;
  };

  beforeAll(async () => {
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: path_, defaultBranch: 'main' });
    for (const [u, level] of [
      [ANN, 40],
      [DEV, 30],
      [GUEST, 10],
    ] as const) {
      h.gitlab.addUser(u);
      h.gitlab.setMember(projectId, u.id, level);
    }
    run = await merge(iid, 'first');
  }, 120_000);
  afterAll(async () => {
    const docker = dockerFromEnv();
    const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
    await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    const unexpected = h.gitlab.unexpectedCalls();
    await h.stop();
    expect(unexpected).toEqual([]);
  });

  it("a Developer's /deploy production is refused and the note says why", async () => {
    expect(await comment(DEV, '/deploy production')).toEqual({ command: 'deploy' });
    await waitNote(
      `**Commands:** @\u200ddev /deploy production: refused: @\u200ddev is Developer (30) of ${path_}: only a Maintainer of ${path_} may decide this step`,
    );
    expect((await jobOf(run.id, 'deploy:production'))?.phase).toBe('manual');
    // One note: the run summary and the answer together, never a new comment per command.
    expect(h.gitlab.notes(projectId, iid)).toHaveLength(1);
    const audit = (await h.api<{ entries: AuditEntry[] }>(`/api/audit?service=${service}&environment=production`)).body.entries;
    expect(audit[0]).toMatchObject({ source: 'comment', outcome: 'refused', user: DEV, job: 'deploy:production' });
  });

  it('our own note and an edited comment are ignored; the edit is answered, our own note is not', async () => {
    await comment(BOT, '/deploy production');
    await comment(ANN, '/deploy production', 'update');
    await waitNote('@\u200dann /deploy production: not acted on: /deploy in an edited comment is not a command: post a new comment');
    expect(note()).not.toContain('slipway-bot');
    expect((await jobOf(run.id, 'deploy:production'))?.phase).toBe('manual');
    const audit = (await h.api<{ entries: AuditEntry[] }>(`/api/audit?service=${service}`)).body.entries;
    expect(audit.map((e) => e.user.username)).toEqual(['dev']);
  });

  it("a Maintainer's /deploy production approves it and the deploy runs", async () => {
    await comment(ANN, '/deploy production\nthanks!');
    await waitNote(`@\u200dann /deploy production: approved deploy:production of run ${run.id} (by @\u200dann): it runs now`);
    await waitJob(run.id, 'deploy:production', 'success');
    expect((await fetch(`http://127.0.0.1:${port + 100}/healthz`).catch(() => fetch(`http://127.0.0.1:${port + 101}/healthz`))).status).toBe(200);
    const audit = (await h.api<{ entries: AuditEntry[] }>(`/api/audit?service=${service}&environment=production`)).body.entries;
    expect(audit[0]).toMatchObject({ source: 'comment', outcome: 'approved', started: true, user: ANN });
    // The answer stays in the note as the run goes on.
    await eventually(async () => expect(note()).toMatch(/Slipway run .*: succeeded/), 30_000);
    expect(note()).toContain('@\u200dann /deploy production: approved');
    expect(h.gitlab.notes(projectId, iid)).toHaveLength(1);
  });

  it('/retry from a Guest is refused; from a Maintainer it runs the failed jobs of the latest run again', async () => {
    const mr = iid + 5;
    const sha = await commitFiles(
      project.bareDir,
      'main',
      {
        '.slipway.yml':
          'stages: [test, after]\nunit:\n  image: slipway/busybox:1\n  script: [echo flaky, exit 3]\nlater:\n  stage: after\n  image: slipway/busybox:1\n  script: [echo later]\n',
      },
      `Merge !${mr}`,
    );
    h.gitlab.addMergeRequest(projectId, { iid: mr, authorId: 302 });
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: path_, sha, iid: mr }), WEBHOOK_SECRET);
    const failed = await h.waitForRun(String(res.json['runId']), ['failed'], 90_000);
    expect(failed.jobs.find((j) => j.name === 'later')?.status.phase).toBe('skipped');
    const firstStart = failed.jobs.find((j) => j.name === 'unit')?.startedAt;

    await comment(GUEST, '/retry', 'create', mr);
    await waitNote(`@\u200dguest /retry: refused: @\u200dguest is Guest (10) of ${path_}: only a Developer of ${path_} may retry a run`, mr);
    expect((await jobOf(failed.id, 'unit'))?.phase).toBe('failed');

    await comment(ANN, '/retry', 'create', mr);
    await waitNote(`@\u200dann /retry: retrying run ${failed.id} (unit, later)`, mr);
    const again = await h.waitForRun(failed.id, ['failed'], 90_000);
    const unit = again.jobs.find((j) => j.name === 'unit');
    expect(unit?.status.phase).toBe('failed');
    expect(Date.parse(unit?.startedAt ?? '')).toBeGreaterThan(Date.parse(firstStart ?? ''));
    expect((await h.slipway.store.readLog(failed.id)).map((l) => l.line)).toContain(`retried by @ann from merge request !${mr}`);
    expect(again.jobs.find((j) => j.name === 'later')?.status.phase).toBe('skipped');
  }, 120_000);

  it('/cancel from a Developer cancels the waiting deploy of the latest run; from a non-member it is refused', async () => {
    const second = await merge(iid + 1, 'second');
    await comment({ id: 399, username: 'stranger' }, '/cancel', 'create', iid + 1);
    await waitNote(`@\u200dstranger /cancel: refused: @\u200dstranger is not a member of ${path_}: only a Developer of ${path_} may cancel a run`, iid + 1);
    expect((await jobOf(second.id, 'deploy:production'))?.phase).toBe('manual');
    await comment(DEV, '/cancel', 'create', iid + 1);
    await waitNote(`@\u200ddev /cancel: canceled run ${second.id} (deploy:production)`, iid + 1);
    expect(await jobOf(second.id, 'deploy:production')).toMatchObject({ phase: 'canceled', reason: `canceled by @dev from merge request !${iid + 1}` });
    await eventually(async () => expect((await h.slipway.store.get(second.id))?.status.phase).toBe('canceled'), 30_000);
  });
});
