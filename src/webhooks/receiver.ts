import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { Logger } from '../logging/logger.js';
import { classify } from '../triggers/classify.js';
import { commandOf, type MrCommand } from '../triggers/mr-command.js';
import { isIgnored, type PipelineRequest } from '../triggers/types.js';
import { HANDLED_EVENTS, parseEvent } from './events.js';
import { verifySignature } from './verify-signature.js';
import { tokenFitsProject, tokenIsKnown, type TokenSecrets } from './verify-token.js';

export interface AcceptedDelivery {
  runId: string;
  duplicate: boolean;
}

/** Why a delivery was not accepted: the `reason` label of slipway_webhooks_rejected_total. */
export type WebhookRejection =
  | 'token_missing'
  | 'token_invalid'
  | 'token_wrong_project'
  | 'signature_invalid'
  | 'event_missing'
  | 'json_malformed'
  | 'payload_invalid'
  | 'body_too_large'
  | 'body_unreadable'
  | 'store_unavailable';

/** What the receiver counts; the label values are bounded (event: a handled event name, `other` or `none`). */
export interface WebhookMetrics {
  webhookReceived(event: string): void;
  webhookDeduplicated(event: string): void;
  webhookIgnored(event: string): void;
  webhookRejected(reason: WebhookRejection): void;
}

export interface WebhookDeps {
  secrets: TokenSecrets;
  signingSecret: string | undefined;
  maxBodyBytes: number;
  /** Must resolve only once the request is durably in Redis (AOF fsync'd) and queued. */
  accept(request: PipelineRequest, dedupeKey: string, deliveryId: string): Promise<AcceptedDelivery>;
  logger: Logger;
  metrics?: WebhookMetrics;
  /**
   * A command from a merge-request comment (absent: comments are ignored). Called once per
   * delivery key; it must not throw, and it acts after the 202 (GitLab gives a hook 10 s).
   */
  command?(command: MrCommand, dedupeKey: string): void;
}

const MAX_IDEMPOTENCY_KEY = 200;
const WEBHOOK_PATH = /^\/webhooks\/gitlab\/?(?:\?.*)?$/i;

/** The request line a webhook handler takes (POST /webhooks/gitlab; express's matching: any case, a trailing slash, a query). */
export function isWebhookRequest(req: IncomingMessage): boolean {
  return req.method === 'POST' && WEBHOOK_PATH.test(req.url ?? '');
}

/**
 * POST /webhooks/gitlab, on node:http directly (not through express's stack: this route is the one
 * GitLab's bursts hit). GitLab disables a hook after 4 failed deliveries, so: 2xx for anything we
 * do not act on, 4xx only for requests that are not valid GitLab deliveries, 503 only when we
 * could not store the event (GitLab can then resend it).
 */
export function createWebhookHandler(deps: WebhookDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const reject = (res: ServerResponse, status: number, reason: WebhookRejection, error: string) => {
    deps.metrics?.webhookRejected(reason);
    sendJson(res, status, { error });
  };
  return (req, res) => {
    const token = header(req, 'x-gitlab-token');
    const eventName = header(req, 'x-gitlab-event');
    deps.metrics?.webhookReceived(eventLabel(eventName));
    // The token is checked before the body is read: strangers cannot make us buffer 25 MB.
    if (!tokenIsKnown(token, deps.secrets)) {
      if (token) reject(res, 401, 'token_invalid', 'invalid X-Gitlab-Token');
      else reject(res, 401, 'token_missing', 'missing X-Gitlab-Token header');
      return;
    }
    readBody(req, deps.maxBodyBytes).then(
      (body) => {
        if ('tooLarge' in body) reject(res, 413, 'body_too_large', `body larger than the ${deps.maxBodyBytes}-byte limit`);
        else if ('unreadable' in body) reject(res, body.status, 'body_unreadable', body.unreadable);
        else return handle(req, res, body.raw, token ?? '', eventName);
      },
      (err: unknown) => reject(res, 400, 'body_unreadable', err instanceof Error ? err.message : 'request body unreadable'),
    );
  };

  async function handle(req: IncomingMessage, res: ServerResponse, raw: Buffer, token: string, eventName: string | undefined): Promise<void> {
    const deliveryId = header(req, 'x-gitlab-webhook-uuid') ?? header(req, 'webhook-id') ?? 'unknown';
    const at = { delivery: deliveryId, event: eventName };

    if (deps.signingSecret) {
      const verdict = verifySignature(
        raw,
        { id: header(req, 'webhook-id'), timestamp: header(req, 'webhook-timestamp'), signature: header(req, 'webhook-signature') },
        deps.signingSecret,
      );
      if (!verdict.ok) {
        reject(res, 401, 'signature_invalid', verdict.reason);
        return;
      }
    }

    if (!eventName) {
      reject(res, 400, 'event_missing', 'missing X-Gitlab-Event header');
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      reject(res, 400, 'json_malformed', `malformed JSON: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    const parsed = parseEvent(eventName, body);
    if (!parsed.ok) {
      if ('unknownEvent' in parsed) {
        deps.logger.info(at, 'webhook ignored: event not handled');
        deps.metrics?.webhookIgnored(eventLabel(eventName));
        sendJson(res, 202, { ignored: `event '${parsed.unknownEvent}' is not handled` });
      } else {
        reject(res, 400, 'payload_invalid', parsed.invalid);
      }
      return;
    }
    const project = parsed.event.payload.project;
    if (!tokenFitsProject(token, { id: project.id, path: project.path_with_namespace }, deps.secrets)) {
      reject(res, 401, 'token_wrong_project', `X-Gitlab-Token is not the secret of project ${project.path_with_namespace}`);
      return;
    }
    if (parsed.event.name === 'Note Hook' && deps.command) {
      const c = commandOf(parsed.event.payload);
      if ('command' in c) {
        deps.logger.info({ ...at, command: c.command.name, mr: c.command.iid, user: c.command.user.id }, 'merge request command');
        sendJson(res, 202, { command: c.command.name });
        deps.command(c.command, dedupeKeyOf(header(req, 'idempotency-key'), raw));
        return;
      }
    }
    const decision = classify(parsed.event);
    if (isIgnored(decision)) {
      deps.logger.info({ ...at, reason: decision.ignored }, 'webhook ignored');
      deps.metrics?.webhookIgnored(eventLabel(eventName));
      sendJson(res, 202, decision);
      return;
    }
    const dedupeKey = dedupeKeyOf(header(req, 'idempotency-key'), raw);
    try {
      const accepted = await deps.accept(decision, dedupeKey, deliveryId);
      // The one line a stored delivery logs.
      deps.logger.info({ ...at, run: accepted.runId, duplicate: accepted.duplicate, kind: decision.kind }, 'webhook accepted');
      if (accepted.duplicate) deps.metrics?.webhookDeduplicated(eventLabel(eventName));
      sendJson(res, 202, accepted.duplicate ? { duplicateOf: accepted.runId } : { runId: accepted.runId });
    } catch (err) {
      deps.logger.error({ ...at, err }, 'webhook could not be stored');
      reject(res, 503, 'store_unavailable', 'event store unavailable; the delivery was not accepted, resend it');
    }
  }
}

type BodyRead = { raw: Buffer } | { tooLarge: true } | { unreadable: string; status: number };

/**
 * The body, up to `limit` bytes (a larger Content-Length is refused before reading). gzip, deflate
 * and br bodies are inflated, with the limit on what they inflate to (as express's body parser did);
 * other encodings are refused with 415.
 */
function readBody(req: IncomingMessage, limit: number): Promise<BodyRead> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.resolve({ tooLarge: true });
  const encoding = (header(req, 'content-encoding') ?? 'identity').toLowerCase();
  if (!['identity', 'gzip', 'x-gzip', 'deflate', 'br'].includes(encoding)) {
    return Promise.resolve({ unreadable: `unsupported content encoding "${encoding}"`, status: 415 });
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: BodyRead) => {
      if (done) return;
      done = true;
      req.removeListener('data', onData);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) finish({ tooLarge: true });
      else chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      const raw = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      if (encoding === 'identity') return finish({ raw });
      try {
        const opts = { maxOutputLength: limit };
        const inflated = encoding === 'br' ? brotliDecompressSync(raw, opts) : encoding === 'deflate' ? inflateSync(raw, opts) : gunzipSync(raw, opts);
        finish({ raw: inflated });
      } catch (err) {
        const e = err as { code?: string };
        finish(e.code === 'ERR_BUFFER_TOO_LARGE' ? { tooLarge: true } : { unreadable: `body could not be decoded (${encoding})`, status: 400 });
      }
    });
    req.once('aborted', () => finish({ unreadable: 'request aborted', status: 400 }));
    req.once('error', (err) => finish({ unreadable: err.message, status: 400 }));
  });
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** As express's res.json: JSON with its length, so keep-alive clients need no chunked decoding. */
function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The header is attacker-controlled: only known event names become label values, so series stay bounded. */
function eventLabel(header: string | undefined): string {
  if (!header) return 'none';
  return (HANDLED_EVENTS as readonly string[]).includes(header) ? header : 'other';
}

/** GitLab keeps Idempotency-Key across manual resends; older GitLab does not send it, so hash the body. */
export function dedupeKeyOf(idempotencyKey: string | undefined, raw: Buffer): string {
  if (idempotencyKey && idempotencyKey.length <= MAX_IDEMPOTENCY_KEY && /^[\x21-\x7e]+$/.test(idempotencyKey)) {
    return `idem:${idempotencyKey}`;
  }
  return `body:${createHash('sha256').update(raw).digest('hex')}`;
}
