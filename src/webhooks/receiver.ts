import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
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

/**
 * POST /webhooks/gitlab. GitLab disables a hook after 4 failed deliveries, so: 2xx for anything
 * we do not act on, 4xx only for requests that are not valid GitLab deliveries, 503 only when we
 * could not store the event (GitLab can then resend it).
 */
export function createWebhookRouter(deps: WebhookDeps): Router {
  const router = express.Router();
  const reject = (res: Response, status: number, reason: WebhookRejection, error: string) => {
    deps.metrics?.webhookRejected(reason);
    res.status(status).json({ error });
  };

  // The token is checked before the body is read: strangers cannot make us buffer 25 MB.
  router.post(
    '/webhooks/gitlab',
    (req, res, next) => {
      deps.metrics?.webhookReceived(eventLabel(req.get('x-gitlab-event')));
      if (!tokenIsKnown(req.get('x-gitlab-token'), deps.secrets)) {
        if (req.get('x-gitlab-token')) reject(res, 401, 'token_invalid', 'invalid X-Gitlab-Token');
        else reject(res, 401, 'token_missing', 'missing X-Gitlab-Token header');
        return;
      }
      next();
    },
    express.raw({ type: () => true, limit: deps.maxBodyBytes }),
    async (req: Request, res: Response) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const deliveryId = req.get('x-gitlab-webhook-uuid') ?? req.get('webhook-id') ?? 'unknown';
      const log = deps.logger.child({ delivery: deliveryId, event: req.get('x-gitlab-event') });

      if (deps.signingSecret) {
        const verdict = verifySignature(
          raw,
          {
            id: req.get('webhook-id'),
            timestamp: req.get('webhook-timestamp'),
            signature: req.get('webhook-signature'),
          },
          deps.signingSecret,
        );
        if (!verdict.ok) {
          reject(res, 401, 'signature_invalid', verdict.reason);
          return;
        }
      }

      const eventName = req.get('x-gitlab-event');
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
          log.info('webhook ignored: event not handled');
          deps.metrics?.webhookIgnored(eventLabel(eventName));
          res.status(202).json({ ignored: `event '${parsed.unknownEvent}' is not handled` });
        } else {
          reject(res, 400, 'payload_invalid', parsed.invalid);
        }
        return;
      }
      const project = parsed.event.payload.project;
      if (!tokenFitsProject(req.get('x-gitlab-token') ?? '', { id: project.id, path: project.path_with_namespace }, deps.secrets)) {
        reject(res, 401, 'token_wrong_project', `X-Gitlab-Token is not the secret of project ${project.path_with_namespace}`);
        return;
      }
      if (parsed.event.name === 'Note Hook' && deps.command) {
        const c = commandOf(parsed.event.payload);
        if ('command' in c) {
          log.info({ command: c.command.name, mr: c.command.iid, user: c.command.user.id }, 'merge request command');
          res.status(202).json({ command: c.command.name });
          deps.command(c.command, dedupeKeyOf(req.get('idempotency-key'), raw));
          return;
        }
      }
      const decision = classify(parsed.event);
      if (isIgnored(decision)) {
        log.info({ reason: decision.ignored }, 'webhook ignored');
        deps.metrics?.webhookIgnored(eventLabel(eventName));
        res.status(202).json(decision);
        return;
      }
      const dedupeKey = dedupeKeyOf(req.get('idempotency-key'), raw);
      try {
        const accepted = await deps.accept(decision, dedupeKey, deliveryId);
        log.info({ run: accepted.runId, duplicate: accepted.duplicate, kind: decision.kind }, 'webhook accepted');
        if (accepted.duplicate) deps.metrics?.webhookDeduplicated(eventLabel(eventName));
        res.status(202).json(accepted.duplicate ? { duplicateOf: accepted.runId } : { runId: accepted.runId });
      } catch (err) {
        log.error({ err }, 'webhook could not be stored');
        reject(res, 503, 'store_unavailable', 'event store unavailable; the delivery was not accepted, resend it');
      }
    },
  );

  // Body-parser errors (size limit, aborted request) become JSON answers that name the problem.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const e = err as { type?: string; status?: number; limit?: number };
    if (e.type === 'entity.too.large') {
      reject(res, 413, 'body_too_large', `body larger than the ${e.limit ?? deps.maxBodyBytes}-byte limit`);
      return;
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      reject(res, e.status, 'body_unreadable', err instanceof Error ? err.message : 'bad request');
      return;
    }
    next(err);
  });

  return router;
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
