import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { eventually } from '../helpers/eventually.js';
import { deliver, pushEvent } from '../helpers/gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from '../helpers/slipway-harness.js';

/** One delivery a receiver saw, and whether it met the platform's documented format. */
interface Seen {
  problems: string[];
  body: Record<string, unknown>;
}

interface Receiver {
  url: string;
  seen: Seen[];
  /** Answers given, in order (status codes). */
  answers: number[];
  close(): Promise<void>;
}

type Check = (req: IncomingMessage, url: URL, body: Record<string, unknown>) => string[];

/**
 * A local chat webhook that checks each request as the platform's docs define it, answers as the
 * platform does, and can fail the first `failFirst` requests (or all of them) with 503/500.
 */
async function startReceiver(
  path: string,
  check: Check,
  answer: (problems: string[]) => { status: number; body: string },
  opts: { failFirst?: number; alwaysFail?: boolean } = {},
): Promise<Receiver> {
  const seen: Seen[] = [];
  const answers: number[] = [];
  let calls = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls += 1;
      const reply = (status: number, body: string, type = 'application/json') => {
        answers.push(status);
        res.writeHead(status, { 'Content-Type': type }).end(body);
      };
      if (opts.alwaysFail) return reply(500, '{"error":"down"}');
      if (calls <= (opts.failFirst ?? 0)) return reply(503, '{"error":"try later"}');
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      let body: Record<string, unknown> = {};
      const problems: string[] = [];
      if (req.method !== 'POST') problems.push(`method ${req.method ?? ''}`);
      if (url.pathname !== path) problems.push(`path ${url.pathname}`);
      if ((req.headers['content-type'] ?? '').split(';')[0] !== 'application/json') problems.push(`content-type ${req.headers['content-type'] ?? 'missing'}`);
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        problems.push('body is not JSON');
      }
      problems.push(...check(req, url, body));
      seen.push({ problems, body });
      const a = answer(problems);
      reply(a.status, a.body, a.body === 'ok' || a.body.startsWith('invalid') ? 'text/plain' : 'application/json');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    seen,
    answers,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

const obj = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

// https://api.slack.com/messaging/webhooks: JSON with `text` (the fallback) and optional Block Kit
// `blocks`; Slack answers 200 "ok", or 400 "invalid_payload"/"no_text".
const slackCheck: Check = (_req, _url, body) => {
  const p: string[] = [];
  if (typeof body['text'] !== 'string' || body['text'] === '') p.push('text missing');
  const blocks = body['blocks'];
  if (!Array.isArray(blocks) || blocks.length === 0) p.push('blocks missing');
  else
    for (const b of blocks) {
      const block = obj(b);
      if (!block || !['section', 'context', 'header', 'divider', 'actions'].includes(String(block['type']))) p.push(`block type ${String(block?.['type'])}`);
      if (block?.['type'] === 'section' && obj(block['text'])?.['type'] !== 'mrkdwn' && obj(block['text'])?.['type'] !== 'plain_text')
        p.push('section text type');
    }
  return p;
};

// https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages and
// .../customize-robot-security-settings: access_token, timestamp (ms, within an hour) and
// sign = base64(HmacSHA256(secret, `${timestamp}\n${secret}`)) in the query; msgtype markdown with
// markdown.title and markdown.text. Answers {errcode, errmsg}; 310000 = bad signature.
const dingtalkCheck =
  (token: string, secret: string): Check =>
  (_req, url, body) => {
    const p: string[] = [];
    if (url.searchParams.get('access_token') !== token) p.push('access_token');
    const ts = Number(url.searchParams.get('timestamp'));
    if (!Number.isFinite(ts) || Math.abs(Date.now() - ts) > 3_600_000) p.push('timestamp');
    const expected = createHmac('sha256', secret).update(`${ts}\n${secret}`).digest();
    const given = Buffer.from(url.searchParams.get('sign') ?? '', 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) p.push('sign');
    const md = obj(body['markdown']);
    if (body['msgtype'] !== 'markdown' || typeof md?.['title'] !== 'string' || typeof md['text'] !== 'string' || md['text'] === '') p.push('markdown message');
    return p;
  };

// https://developer.work.weixin.qq.com/document/path/91770: ?key=…; msgtype markdown with
// markdown.content, UTF-8, at most 4096 bytes. Answers {errcode, errmsg}.
const wecomCheck =
  (key: string): Check =>
  (_req, url, body) => {
    const p: string[] = [];
    if (url.searchParams.get('key') !== key) p.push('key');
    const content = obj(body['markdown'])?.['content'];
    if (body['msgtype'] !== 'markdown' || typeof content !== 'string' || content === '') p.push('markdown message');
    else if (Buffer.byteLength(content) > 4096) p.push('content longer than 4096 bytes');
    return p;
  };

const jsonCheck: Check = (_req, _url, body) =>
  ['event', 'run', 'url', 'project', 'ref', 'sha', 'reason', 'at'].filter((k) => typeof body[k] !== 'string').map((k) => `${k} missing`);

const errcodeAnswer = (code: number, msg: string) => (problems: string[]) => ({
  status: 200,
  body: JSON.stringify(problems.length === 0 ? { errcode: 0, errmsg: 'ok' } : { errcode: code, errmsg: `${msg}: ${problems.join(', ')}` }),
});

describe('chat notifications', () => {
  let h: Harness;
  let project: FakeProject;
  const receivers: Record<string, Receiver> = {};
  const slackToken = `T0/B0/${randomBytes(12).toString('hex')}`;
  const dingToken = randomBytes(16).toString('hex');
  const dingSecret = `SEC${randomBytes(16).toString('hex')}`;
  const wecomKey = randomBytes(16).toString('hex');
  const projectId = 13000 + Math.floor(Math.random() * 1000);

  beforeAll(async () => {
    receivers['slack'] = await startReceiver(`/services/${slackToken}`, slackCheck, (p) =>
      p.length === 0 ? { status: 200, body: 'ok' } : { status: 400, body: 'invalid_payload' },
    );
    receivers['ding'] = await startReceiver('/robot/send', dingtalkCheck(dingToken, dingSecret), errcodeAnswer(310000, 'sign not match or bad message'));
    receivers['wecom'] = await startReceiver('/cgi-bin/webhook/send', wecomCheck(wecomKey), errcodeAnswer(40008, 'invalid message'));
    receivers['flaky'] = await startReceiver(
      '/hooks/slipway',
      jsonCheck,
      (p) => (p.length === 0 ? { status: 204, body: '' } : { status: 400, body: JSON.stringify(p) }),
      { failFirst: 2 },
    );
    receivers['down'] = await startReceiver('/hooks/down', jsonCheck, () => ({ status: 204, body: '' }), { alwaysFail: true });
    h = await startHarness({
      env: {
        SLIPWAY_NOTIFY_SLACK_URL: receivers['slack'].url,
        SLIPWAY_NOTIFY_SLACK_FORMAT: 'slack',
        SLIPWAY_NOTIFY_DING_URL: `${receivers['ding'].url}?access_token=${dingToken}`,
        SLIPWAY_NOTIFY_DING_FORMAT: 'dingtalk',
        SLIPWAY_NOTIFY_DING_SECRET: dingSecret,
        SLIPWAY_NOTIFY_WECOM_URL: `${receivers['wecom'].url}?key=${wecomKey}`,
        SLIPWAY_NOTIFY_WECOM_FORMAT: 'wecom',
        SLIPWAY_NOTIFY_WECOM_EVENTS: 'pipeline-failed,approval-requested',
        SLIPWAY_NOTIFY_FLAKY_URL: receivers['flaky'].url,
        SLIPWAY_NOTIFY_FLAKY_FORMAT: 'json',
        SLIPWAY_NOTIFY_DOWN_URL: receivers['down'].url,
        SLIPWAY_NOTIFY_DOWN_FORMAT: 'json',
        SLIPWAY_NOTIFY_RETRIES: '3',
        SLIPWAY_NOTIFY_BACKOFF_MS: '50',
        SLIPWAY_NOTIFY_TIMEOUT_MS: '2000',
      },
    });
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/chat-${projectId}` });
  }, 60_000);

  afterAll(async () => {
    await h?.stop();
    await Promise.all(Object.values(receivers).map((r) => r.close()));
  });

  const push = async (files: Record<string, string>, branch: string) => {
    const sha = await commitFiles(project.bareDir, branch, files, `change ${branch}`);
    const res = await deliver(h.url, 'Push Hook', pushEvent({ projectId, path: project.pathWithNamespace, sha, branch }), WEBHOOK_SECRET);
    expect(res.status).toBe(202);
    return h.waitForRun(String(res.json['runId']), undefined, 60_000);
  };

  it('a job waiting for a person is announced in every format; a channel that is down does not fail the run', async () => {
    const run = await push({ '.slipway.yml': 'release:\n  when: manual\n  image: slipway/busybox:1\n  script: [echo release]\n' }, 'main');
    expect(run.status.phase).toBe('succeeded');
    await eventually(() => {
      for (const name of ['slack', 'ding', 'wecom', 'flaky']) expect(receivers[name]?.seen.length, name).toBe(1);
    }, 15_000);
    for (const name of ['slack', 'ding', 'wecom', 'flaky']) expect(receivers[name]?.seen[0]?.problems, name).toEqual([]);
    expect(receivers['flaky']?.answers).toEqual([503, 503, 204]);
    expect(receivers['flaky']?.seen[0]?.body).toMatchObject({
      event: 'approval-requested',
      run: run.id,
      job: 'release',
      project: project.pathWithNamespace,
      ref: 'main',
    });
    expect(JSON.stringify(receivers['slack']?.seen[0]?.body)).toContain('Approval requested');
    // The channel that is always down: tried 1 + 3 times, the failure in the run log, the run unharmed.
    const log = await eventually(async () => {
      const lines = (await h.slipway.store.readLog(run.id)).map((l) => l.line);
      expect(lines.some((l) => l.startsWith('could not notify down (json) of approval-requested after 4 attempt(s): HTTP 500'))).toBe(true);
      return lines;
    }, 15_000);
    expect(receivers['down']?.answers).toEqual([500, 500, 500, 500]);
    expect(log).toContain('notified flaky (json) of approval-requested after 3 attempt(s)');
    expect((await h.slipway.store.get(run.id))?.status.phase).toBe('succeeded');
    // No log line carries a channel's token.
    const all = [...h.logs, ...log].join('\n');
    for (const secret of [slackToken, dingToken, dingSecret, wecomKey]) expect(all).not.toContain(secret);
  }, 90_000);

  it('a failed pipeline is announced once per channel, as each channel asked', async () => {
    const run = await push({ '.slipway.yml': 'unit:\n  image: slipway/busybox:1\n  script: [echo broken, exit 3]\n' }, 'feature-x');
    expect(run.status.phase).toBe('failed');
    await eventually(() => {
      for (const name of ['slack', 'ding', 'wecom', 'flaky']) expect(receivers[name]?.seen.length, name).toBe(2);
    }, 15_000);
    for (const name of ['slack', 'ding', 'wecom', 'flaky']) expect(receivers[name]?.seen[1]?.problems, name).toEqual([]);
    expect(receivers['flaky']?.seen[1]?.body).toMatchObject({ event: 'pipeline-failed', run: run.id, ref: 'feature-x' });
    const ding = receivers['ding']?.seen[1]?.body as { markdown: { title: string; text: string } };
    expect(ding.markdown.title).toBe('Pipeline failed');
    expect(ding.markdown.text).toContain(`/runs/${run.id}`);
  }, 90_000);
});
