import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, mergeEvent, pushEvent } from '../helpers/gitlab-delivery.js';
import { parseExposition, valueOf } from '../helpers/prometheus-text.js';
import { dockerFromEnv, slotPortBase } from '../helpers/services.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// Issue 14: /metrics counts webhooks (received, deduplicated, rejected by reason), queue depth and
// wait, job durations; it and the queue dashboard need a token in the Authorization header.
describe('/metrics and the queue dashboard', () => {
  let h: Harness;
  let project: FakeProject;
  const projectId = 41000 + Math.floor(Math.random() * 1000);
  const metricsToken = 'metrics-token-for-the-scraper';

  const scrape = async (base = h.url, token = metricsToken) => {
    const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    return { text, samples: parseExposition(text) };
  };

  beforeAll(async () => {
    h = await startHarness({ env: { SLIPWAY_METRICS_TOKEN: metricsToken, SLIPWAY_METRICS_PORT: '0' } });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/metrics-${projectId}`, defaultBranch: 'main' });
  });
  afterAll(async () => h.stop());

  it('needs a token in the Authorization header: the metrics token or the API token, never in the URL', async () => {
    expect((await fetch(`${h.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${h.url}/metrics`, { headers: { Authorization: 'Bearer not-the-token' } })).status).toBe(401);
    const inUrl = await fetch(`${h.url}/metrics?token=${metricsToken}`);
    expect(inUrl.status).toBe(401);
    expect(((await inUrl.json()) as { error: string }).error).toContain('Authorization: Bearer <SLIPWAY_METRICS_TOKEN or SLIPWAY_API_TOKEN>');
    await scrape(h.url, metricsToken);
    await scrape(h.url, h.slipway.apiToken);
    // The metrics token opens /metrics only.
    expect((await fetch(`${h.url}/api/runs`, { headers: { Authorization: `Bearer ${metricsToken}` } })).status).toBe(401);
  });

  it('counts received, deduplicated and rejected deliveries, and a finished job adds a duration sample', async () => {
    const before = (await scrape()).samples;
    const sha = await commitFiles(project.bareDir, 'main', { '.slipway.yml': 'unit:\n  image: slipway/busybox:1\n  script: ["echo ok"]\n' }, 'add a job');
    const body = pushEvent({ projectId, path: project.pathWithNamespace, sha, branch: 'main' });
    const first = await deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET, { idempotencyKey: `metrics-${sha}` });
    expect(first.status).toBe(202);
    const again = await deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET, { idempotencyKey: `metrics-${sha}` });
    expect(again.json['duplicateOf']).toBe(first.json['runId']);
    expect((await deliver(h.url, 'Push Hook', body, 'wrong-secret')).status).toBe(401);
    expect((await deliver(h.url, 'Push Hook', body, undefined)).status).toBe(401);
    expect((await deliver(h.url, 'Push Hook', '{not json', WEBHOOK_SECRET)).status).toBe(400);
    // An event name Slipway does not know is labelled "other": the header cannot make new series.
    expect((await deliver(h.url, 'Made Up Hook', body, WEBHOOK_SECRET)).status).toBe(202);

    const run = await h.waitForRun(String(first.json['runId']));
    expect(run.status.phase).toBe('succeeded');
    const after = await eventually(async () => {
      const { samples } = await scrape();
      expect(valueOf(samples, 'slipway_job_duration_seconds_count', { kind: 'script', outcome: 'success' })).toBe(
        valueOf(before, 'slipway_job_duration_seconds_count', { kind: 'script', outcome: 'success' }) + 1,
      );
      return samples;
    });
    const delta = (name: string, labels: Record<string, string>) => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(delta('slipway_webhooks_received_total', { event: 'Push Hook' })).toBe(5);
    expect(delta('slipway_webhooks_received_total', { event: 'other' })).toBe(1);
    expect(delta('slipway_webhooks_deduplicated_total', { event: 'Push Hook' })).toBe(1);
    expect(delta('slipway_webhooks_rejected_total', { reason: 'token_invalid' })).toBe(1);
    expect(delta('slipway_webhooks_rejected_total', { reason: 'token_missing' })).toBe(1);
    expect(delta('slipway_webhooks_rejected_total', { reason: 'json_malformed' })).toBe(1);
    expect(delta('slipway_webhooks_ignored_total', { event: 'other' })).toBe(1);
    expect(delta('slipway_job_duration_seconds_count', { kind: 'plan', outcome: 'success' })).toBe(1);
    expect(delta('slipway_queue_wait_seconds_count', { queue: 'events' })).toBe(1);
    expect(delta('slipway_queue_wait_seconds_count', { queue: 'build' })).toBe(1);
    const unit = run.jobs.find((j) => j.name === 'unit');
    const took = (Date.parse(unit?.finishedAt ?? '') - Date.parse(unit?.startedAt ?? '')) / 1000;
    expect(delta('slipway_job_duration_seconds_sum', { kind: 'script', outcome: 'success' })).toBeCloseTo(took, 1);
  });

  it('reads queue depth, approvals waiting and the process metrics when scraped', async () => {
    const { samples, text } = await scrape();
    for (const queue of ['events', 'build', 'deploy']) {
      for (const state of ['waiting', 'prioritized', 'active', 'delayed', 'failed']) {
        expect(
          samples.some((s) => s.name === 'slipway_queue_jobs' && s.labels['queue'] === queue && s.labels['state'] === state),
          `${queue}/${state}`,
        ).toBe(true);
      }
    }
    expect(samples.some((s) => s.name === 'slipway_approvals_waiting')).toBe(true);
    expect(samples.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
    expect(samples.some((s) => s.name === 'nodejs_eventloop_lag_seconds')).toBe(true);
    expect(text).toContain('# TYPE slipway_job_duration_seconds histogram');
    // Every metric issue 14 names is declared (a counter with labels has no sample until it counts once).
    for (const counter of ['slipway_rollbacks_total', 'slipway_analysis_aborts_total', 'slipway_deploys_total', 'slipway_webhooks_rejected_total'])
      expect(text).toContain(`# TYPE ${counter} counter`);
    expect(text).toContain('# HELP slipway_rollbacks_total Rollbacks by environment and trigger: automatic');

    // Prometheus' own linter, when Debian's prometheus package is installed. It also flags three of
    // prom-client's process gauges (nodejs_active_*_total), which are not ours to rename.
    if (existsSync('/usr/bin/promtool')) {
      const lint = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      const problems = `${lint.stdout}${lint.stderr}`.split('\n').filter((l) => l.trim() !== '' && !/^nodejs_active_\w+_total non-counter/.test(l));
      expect(problems).toEqual([]);
    }
  });

  it('counts a deploy waiting for its approval until it is approved (and runs) or rejected', async () => {
    const service = `gated-${projectId}`;
    const path_ = `team/${service}`;
    const port = slotPortBase(4);
    const gated = await h.gitlab.addProject({ id: projectId + 1000, pathWithNamespace: path_, defaultBranch: 'main' });
    const approver = h.gitlab.addUser({ id: 61001, username: 'metrics-approver' }).token;
    h.gitlab.setMember(projectId + 1000, 61001, 40);
    const waiting = async () => valueOf((await scrape()).samples, 'slipway_approvals_waiting');
    const decide = async (runId: string, job: string, action: 'approve' | 'reject') => {
      const res = await fetch(`${h.url}/api/runs/${runId}/jobs/${encodeURIComponent(job)}/${action}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${h.slipway.apiToken}`, 'X-Gitlab-Approver-Token': approver, 'Content-Type': 'application/json' },
        body: JSON.stringify(action === 'reject' ? { reason: 'not today' } : {}),
      });
      expect(res.status).toBe(200);
    };
    const phaseOf = async (runId: string, job: string) => (await h.slipway.store.getJob(runId, job))?.status.phase;
    try {
      const sha = await commitFiles(
        gated.bareDir,
        'main',
        {
          '.slipway.yml': [
            `build: { image: demo/${service} }`,
            'deploy:',
            `  service: ${service}`,
            '  environments:',
            `    staging: { port: ${port}, health: /healthz, timeout: 30s }`,
            `    production: { port: ${port + 100}, health: /healthz, timeout: 30s }`,
            '',
          ].join('\n'),
          Dockerfile: 'FROM slipway/busybox:1\nCOPY www /www\nCMD ["/bin/sh", "-c", "exec httpd -f -p 127.0.0.1:${PORT} -h /www"]\n',
          'www/healthz': 'ok\n',
        },
        'Merge 1',
      );
      h.gitlab.addMergeRequest(projectId + 1000, { iid: 1, authorId: 204 });
      const res = await deliver(h.url, 'Merge Request Hook', mergeEvent({ projectId: projectId + 1000, path: path_, sha, iid: 1 }), WEBHOOK_SECRET);
      expect(res.status).toBe(202);
      const runId = String(res.json['runId']);
      await h.waitForRun(runId, ['succeeded', 'failed', 'canceled'], 90_000);
      expect(await phaseOf(runId, 'deploy:staging')).toBe('manual');
      expect(await waiting()).toBe(1);

      // Approved: the step is started at once (queued), so it no longer waits.
      await decide(runId, 'deploy:staging', 'approve');
      expect(await waiting()).toBe(0);
      await eventually(async () => expect(await phaseOf(runId, 'deploy:production')).toBe('manual'), 90_000);
      expect(await phaseOf(runId, 'deploy:staging')).toBe('success');
      expect(await waiting()).toBe(1);

      // Rejected: the step fails, and no longer waits either.
      await decide(runId, 'deploy:production', 'reject');
      expect(await phaseOf(runId, 'deploy:production')).toBe('failed');
      expect(await waiting()).toBe(0);
      expect(valueOf((await scrape()).samples, 'slipway_deploys_total', { environment: 'staging', outcome: 'success' })).toBe(1);
    } finally {
      const docker = dockerFromEnv();
      const mine = await docker.listContainers({ all: true, filters: { label: [`io.slipway.service=${service}`] } });
      await Promise.all(mine.map((c) => docker.getContainer(c.Id).remove({ force: true })));
    }
  });

  it('serves /metrics and /healthz on SLIPWAY_METRICS_PORT too (how worker-only processes are scraped)', async () => {
    const base = h.slipway.metricsUrl ?? '';
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(base).not.toBe(h.url);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const { samples } = await scrape(base);
    expect(valueOf(samples, 'slipway_webhooks_received_total', { event: 'Push Hook' })).toBeGreaterThan(0);
    expect((await fetch(`${base}/api/runs`, { headers: { Authorization: `Bearer ${h.slipway.apiToken}` } })).status).toBe(404);
  });

  it('shows the queues at /admin/queues to holders of the API token only', async () => {
    expect((await fetch(`${h.url}/admin/queues`)).status).toBe(401);
    expect((await fetch(`${h.url}/admin/queues`, { headers: { Authorization: `Bearer ${metricsToken}` } })).status).toBe(401);
    expect((await fetch(`${h.url}/admin/queues?token=${h.slipway.apiToken}`)).status).toBe(401);
    const auth = { Authorization: `Bearer ${h.slipway.apiToken}` };
    const page = await fetch(`${h.url}/admin/queues`, { headers: auth });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('Slipway queues');
    const api = await fetch(`${h.url}/admin/queues/api/queues`, { headers: auth });
    expect(api.status).toBe(200);
    const { queues } = (await api.json()) as { queues: Array<{ name: string; readOnlyMode: boolean }> };
    expect(queues.map((q) => q.name).sort()).toEqual(['build', 'deploy', 'events', 'outbox']);
    expect(queues.every((q) => q.readOnlyMode)).toBe(true);
  });
});
