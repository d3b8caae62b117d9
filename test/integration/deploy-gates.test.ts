import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/approvals/audit-log.js';
import type { JobRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, fixture, mergeEvent } from '../helpers/gitlab-delivery.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Deploy windows, freezes and soak (issue 13), and optional manual jobs, through a running Slipway
// and the GitLab stand-in.
describe('deploy gates', () => {
  let h: Harness;
  const suffix = randomBytes(3).toString('hex');
  const ANN = { id: 401, username: 'ann' };
  const basePort = slotPortBase(10);
  const services: string[] = [];
  const DOCKERFILE = 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n';

  const jobOf = async (runId: string, name: string) => (await h.slipway.store.getJob(runId, name))?.status;
  const waitJob = (runId: string, name: string, phase: JobRecord['status']['phase'], reason?: RegExp) =>
    eventually(async () => {
      const s = await jobOf(runId, name);
      expect(s?.phase).toBe(phase);
      if (reason) expect(s?.reason).toMatch(reason);
      return s;
    }, 90_000);

  /** A project merging one pipeline file as merge request !iid; returns the run id. */
  const mergeProject = async (n: number, pipeline: (service: string, port: number) => string, files: Record<string, string> = {}) => {
    const service = `gate-${n}-${suffix}`;
    services.push(service);
    const projectId = 17000 + n * 100 + Math.floor(Math.random() * 100);
    const path_ = `team/${service}`;
    const project: FakeProject = await h.gitlab.addProject({ id: projectId, pathWithNamespace: path_, defaultBranch: 'main' });
    h.gitlab.setMember(projectId, ANN.id, 40);
    const port = basePort + 2 * n;
    const sha = await commitFiles(project.bareDir, 'main', { '.slipway.yml': pipeline(service, port), ...files }, 'Merge !5');
    h.gitlab.addMergeRequest(projectId, { iid: 5, authorId: 302 });
    const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId, path: path_, sha, iid: 5 }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return { runId: String(res.json['runId']), projectId, path: path_, service, port };
  };

  const comment = async (projectId: number, path_: string, note: string) => {
    const body = fixture('note-hook-merge-request.json') as Record<string, Record<string, unknown>>;
    body['user'] = { ...body['user'], ...ANN };
    body['project'] = { ...body['project'], id: projectId, path_with_namespace: path_, default_branch: 'main' };
    body['object_attributes'] = { ...body['object_attributes'], note, action: 'create', system: false, noteable_type: 'MergeRequest' };
    body['merge_request'] = { ...body['merge_request'], iid: 5 };
    expect((await deliver(h.url, 'Note Hook', body, WEBHOOK_SECRET)).status).toBe(202);
  };
  const notes = (projectId: number) =>
    h.gitlab
      .notes(projectId, 5)
      .map((n) => n.body)
      .join('\n');

  beforeAll(async () => {
    h = await startHarness();
    h.gitlab.addUser(ANN);
  }, 60_000);
  afterAll(async () => {
    const docker = dockerFromEnv();
    for (const service of services) {
      const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
      await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    }
    const unexpected = h.gitlab.unexpectedCalls();
    await h.stop();
    expect(unexpected).toEqual([]);
  });

  it('inside a freeze, /deploy is refused with the freeze and its end (audited), and an ungated deploy waits saying until when', async () => {
    // A daily freeze that began a minute ago and ends in ten hours (UTC), so it is in force now.
    const at = (ms: number) => {
      const d = new Date(Date.now() + ms);
      return { cron: `${d.getUTCMinutes()} ${d.getUTCHours()} * * *`, text: `${d.toISOString().slice(0, 10)}` };
    };
    const start = at(-60_000).cron;
    const end = at(10 * 3600_000);
    const freeze = `      freeze: [{ name: release-week, start: '${start}', end: '${end.cron}', timezone: UTC }]`;
    const { runId } = await mergeProject(
      1,
      (service, port) =>
        [
          `build: { image: demo/${service} }`,
          'deploy:',
          `  service: ${service}`,
          '  environments:',
          '    pre:',
          `      port: ${port}`,
          '      health: /healthz',
          freeze,
          '    production:',
          `      port: ${port + 1}`,
          '      health: /healthz',
          freeze,
          '',
        ].join('\n'),
      { Dockerfile: DOCKERFILE, 'www/healthz': 'ok\n' },
    );
    const waiting = await waitJob(runId, 'deploy:pre', 'queued', /^waiting: pre is frozen until /);
    expect(waiting?.reason).toMatch(/^waiting: pre is frozen until \d{4}-\d\d-\d\d \d\d:\d\d UTC \(freeze 'release-week'\)$/);
    expect(waiting?.reason).toContain(end.text);
    // It keeps waiting (nothing deployed), and production waits behind it.
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await jobOf(runId, 'deploy:pre'))?.phase).toBe('queued');
    expect((await jobOf(runId, 'deploy:production'))?.phase).toBe('pending');

    // Production as a manual step (a run planned before the freeze, say): /deploy is refused, saying why.
    const {
      runId: second,
      projectId: p2,
      path: path2,
    } = await mergeProject(
      2,
      (service, port) =>
        [
          `build: { image: demo/${service} }`,
          'deploy:',
          `  service: ${service}`,
          '  environments:',
          '    production:',
          `      port: ${port}`,
          '      health: /healthz',
          freeze,
          '',
        ].join('\n'),
      { Dockerfile: DOCKERFILE, 'www/healthz': 'ok\n' },
    );
    await waitJob(second, 'deploy:production', 'manual');
    await comment(p2, path2, '/deploy production');
    await eventually(
      async () => expect(notes(p2)).toMatch(/@\u200dann \/deploy production: refused: production is frozen until .* UTC \(freeze 'release-week'\)/),
      30_000,
    );
    expect((await jobOf(second, 'deploy:production'))?.phase).toBe('manual');
    const audit = (await h.api<{ entries: AuditEntry[] }>(`/api/audit?environment=production&project=${p2}`)).body.entries;
    expect(audit.find((e) => e.runId === second)).toMatchObject({
      outcome: 'refused',
      source: 'comment',
      user: ANN,
      detail: expect.stringContaining("freeze 'release-week'"),
    });
  }, 150_000);

  it('soak: approved early, production waits until the release has stayed in pre long enough, then deploys without a second action', async () => {
    const {
      runId,
      projectId,
      path: path_,
      port,
    } = await mergeProject(
      3,
      (service, p) =>
        [
          `build: { image: demo/${service} }`,
          'deploy:',
          `  service: ${service}`,
          '  environments:',
          `    pre: { port: ${p}, health: /healthz, timeout: 30s }`,
          `    production: { port: ${p + 100}, health: /healthz, timeout: 30s, soak: 15s }`,
          '',
        ].join('\n'),
      { Dockerfile: DOCKERFILE, 'www/healthz': 'ok\n' },
    );
    await waitJob(runId, 'deploy:pre', 'success');
    await waitJob(runId, 'deploy:production', 'manual');
    await comment(projectId, path_, '/deploy production');
    const waiting = await waitJob(runId, 'deploy:production', 'queued', /^waiting: release must stay healthy in pre for 15s \(\d+s left\)$/);
    expect(waiting?.reason).toBeDefined();
    await eventually(async () => expect(notes(projectId)).toContain('waiting: release must stay healthy in pre for 15s'), 30_000);
    const done = await waitJob(runId, 'deploy:production', 'success');
    const pre = await h.slipway.store.getJob(runId, 'deploy:pre');
    const prod = await h.slipway.store.getJob(runId, 'deploy:production');
    expect(Date.parse(prod?.startedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(pre?.finishedAt ?? '') + 14_000);
    expect(done?.reason).toContain('answers at');
    expect((await fetch(`http://127.0.0.1:${port + 100}/healthz`).catch(() => fetch(`http://127.0.0.1:${port + 101}/healthz`))).status).toBe(200);
  }, 150_000);

  it('a manual job not yet started does not block later stages; one with allow_failure: false does', async () => {
    const { runId } = await mergeProject(4, () =>
      [
        'stages: [test, next, last]',
        'optional:',
        '  stage: test',
        '  when: manual',
        '  image: slipway/busybox:1',
        '  script: [echo optional]',
        'runs-anyway:',
        '  stage: next',
        '  image: slipway/busybox:1',
        '  script: [echo next]',
        'gate:',
        '  stage: next',
        '  when: manual',
        '  allow_failure: false',
        '  image: slipway/busybox:1',
        '  script: [echo gate]',
        'blocked:',
        '  stage: last',
        '  image: slipway/busybox:1',
        '  script: [echo last]',
        '',
      ].join('\n'),
    );
    const run = await h.waitForRun(runId, ['succeeded', 'failed', 'canceled'], 90_000);
    const status = Object.fromEntries(run.jobs.map((j) => [j.name, [j.status.phase, j.status.reason]]));
    expect(status['optional']?.[0]).toBe('manual');
    expect(status['runs-anyway']?.[0]).toBe('success');
    expect(status['gate']?.[0]).toBe('manual');
    expect(status['blocked']).toEqual(['pending', 'waiting for manual job gate']);
    expect(run.status).toMatchObject({ phase: 'succeeded', reason: 'all jobs passed; waiting: optional, gate' });
  }, 120_000);
});
