import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeGitlab } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, fixture, mergeEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

// The outbox: what Slipway decided to send (a chat message, the MR note's command answer) is kept
// in Redis before it is sent. A Slipway that stops before sending it sends it, once, after a restart.
describe('the outbox survives a restart', () => {
  const received: Record<string, unknown>[] = [];
  let server: Server;
  let chatUrl = '';
  let h: Harness | undefined;
  let gitlab: FakeGitlab;
  let dataDir = '';
  const suffix = randomBytes(3).toString('hex');
  const projectId = 18000 + Math.floor(Math.random() * 1000);
  const path_ = `team/outbox-${suffix}`;
  const iid = 9;
  const DEV = { id: 501, username: 'dev' };

  const start = async (roles?: ('http' | 'planner' | 'build' | 'deploy')[]) => {
    h = await startHarness({
      ...(roles ? { roles } : {}),
      env: {
        SLIPWAY_NOTIFY_TEAM_URL: chatUrl,
        SLIPWAY_NOTIFY_TEAM_FORMAT: 'json',
        SLIPWAY_NOTIFY_TEAM_EVENTS: 'pipeline-failed',
        SLIPWAY_NOTIFY_BACKOFF_MS: '100',
      },
      ...(gitlab ? { reuse: { gitlab, dataDir } } : {}),
    });
    gitlab = h.gitlab;
    dataDir = h.dataDir;
    return h;
  };
  const note = () =>
    gitlab
      .notes(projectId, iid)
      .map((n) => n.body)
      .join('\n');

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    chatUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });
  afterAll(async () => {
    const unexpected = gitlab?.unexpectedCalls() ?? [];
    await h?.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(unexpected).toEqual([]);
  });

  it('a rejection decided by an HTTP-only Slipway is announced and answered once, by the Slipway started after it', async () => {
    // All roles: a merged change whose pipeline ends waiting for a manual job.
    const first = await start();
    const project = await gitlab.addProject({ id: projectId, pathWithNamespace: path_, defaultBranch: 'main' });
    gitlab.addUser(DEV);
    gitlab.setMember(projectId, DEV.id, 30);
    const sha = await commitFiles(
      project.bareDir,
      'main',
      { '.slipway.yml': 'release:\n  when: manual\n  image: slipway/busybox:1\n  script: [echo release]\n' },
      `Merge !${iid}`,
    );
    gitlab.addMergeRequest(projectId, { iid, authorId: 302 });
    const res = await deliver(first.url, 'Merge Request Hook', mergeEvent({ projectId, path: path_, sha, iid }), WEBHOOK_SECRET);
    const runId = String(res.json['runId']);
    await first.waitForRun(runId, ['succeeded'], 60_000);
    await first.stop({ keep: true });

    // Only the HTTP role (no dispatcher): the rejection fails the run; the chat message and the
    // answer are decided and kept, not sent.
    const httpOnly = await start(['http']);
    const body = fixture('note-hook-merge-request.json') as Record<string, Record<string, unknown>>;
    body['user'] = { ...body['user'], ...DEV };
    body['project'] = { ...body['project'], id: projectId, path_with_namespace: path_, default_branch: 'main' };
    body['object_attributes'] = { ...body['object_attributes'], note: '/reject not this week', action: 'create', system: false, noteable_type: 'MergeRequest' };
    body['merge_request'] = { ...body['merge_request'], iid };
    expect((await deliver(httpOnly.url, 'Note Hook', body, WEBHOOK_SECRET)).status).toBe(202);
    await httpOnly.waitForRun(runId, ['failed'], 30_000);
    await eventually(async () => expect(await httpOnly.slipway.store.mrCommandAnswer(projectId, iid)).toContain('rejected release'), 10_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(received).toEqual([]);
    expect(note()).not.toContain('/reject');
    await httpOnly.stop({ keep: true });

    // All roles again, on the same Redis: both are delivered, once.
    await start();
    await eventually(() => expect(received).toHaveLength(1), 30_000);
    expect(received[0]).toMatchObject({ event: 'pipeline-failed', run: runId });
    await eventually(() => expect(note()).toContain(`@\u200ddev /reject not this week: rejected release of run ${runId}`), 30_000);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(received).toHaveLength(1);
    expect(gitlab.notes(projectId, iid)).toHaveLength(1);
  }, 180_000);
});
