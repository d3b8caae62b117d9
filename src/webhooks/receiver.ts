import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Logger } from '../logging/logger.js';
import { classify } from '../triggers/classify.js';
import { isIgnored, type PipelineRequest } from '../triggers/types.js';
import { parseEvent } from './events.js';
import { verifySignature } from './verify-signature.js';
import { tokenFitsProject, tokenIsKnown, type TokenSecrets } from './verify-token.js';

export interface AcceptedDelivery {
  runId: string;
  duplicate: boolean;
}

export interface WebhookDeps {
  secrets: TokenSecrets;
  signingSecret: string | undefined;
  maxBodyBytes: number;
  /** Must resolve only once the request is durably in Redis (AOF fsync'd) and queued. */
  accept(request: PipelineRequest, dedupeKey: string, deliveryId: string): Promise<AcceptedDelivery>;
  logger: Logger;
}

const MAX_IDEMPOTENCY_KEY = 200;

/**
 * POST /webhooks/gitlab. GitLab disables a hook after 4 failed deliveries, so: 2xx for anything
 * we do not act on, 4xx only for requests that are not valid GitLab deliveries, 503 only when we
 * could not store the event (GitLab can then resend it).
 */
export function createWebhookRouter(deps: WebhookDeps): Router {
  const router = express.Router();

  // The token is checked before the body is read: strangers cannot make us buffer 25 MB.
  router.post('/webhooks/gitlab', (req, res, next) => {
    if (!tokenIsKnown(req.get('x-gitlab-token'), deps.secrets)) {
      res.status(401).json({ error: req.get('x-gitlab-token') ? 'invalid X-Gitlab-Token' : 'missing X-Gitlab-Token header' });
      return;
    }
    next();
  }, express.raw({ type: () => true, limit: deps.maxBodyBytes }), async (req: Request, res: Response) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const deliveryId = req.get('x-gitlab-webhook-uuid') ?? req.get('webhook-id') ?? 'unknown';
    const log = deps.logger.child({ delivery: deliveryId, event: req.get('x-gitlab-event') });

    if (deps.signingSecret) {
      const verdict = verifySignature(raw, {
        id: req.get('webhook-id'), timestamp: req.get('webhook-timestamp'), signature: req.get('webhook-signature'),
      }, deps.signingSecret);
      if (!verdict.ok) {
        res.status(401).json({ error: verdict.reason });
        return;
      }
    }

    const eventName = req.get('x-gitlab-event');
    if (!eventName) {
      res.status(400).json({ error: 'missing X-Gitlab-Event header' });
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      res.status(400).json({ error: `malformed JSON: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    const parsed = parseEvent(eventName, body);
    if (!parsed.ok) {
      if ('unknownEvent' in parsed) {
        log.info('webhook ignored: event not handled');
        res.status(202).json({ ignored: `event '${parsed.unknownEvent}' is not handled` });
      } else {
        res.status(400).json({ error: parsed.invalid });
      }
      return;
    }
    const project = parsed.event.payload.project;
    if (!tokenFitsProject(req.get('x-gitlab-token') ?? '', { id: project.id, path: project.path_with_namespace }, deps.secrets)) {
      res.status(401).json({ error: `X-Gitlab-Token is not the secret of project ${project.path_with_namespace}` });
      return;
    }
    const decision = classify(parsed.event);
    if (isIgnored(decision)) {
      log.info({ reason: decision.ignored }, 'webhook ignored');
      res.status(202).json(decision);
      return;
    }
    const dedupeKey = dedupeKeyOf(req.get('idempotency-key'), raw);
    try {
      const accepted = await deps.accept(decision, dedupeKey, deliveryId);
      log.info({ run: accepted.runId, duplicate: accepted.duplicate, kind: decision.kind }, 'webhook accepted');
      res.status(202).json(accepted.duplicate ? { duplicateOf: accepted.runId } : { runId: accepted.runId });
    } catch (err) {
      log.error({ err }, 'webhook could not be stored');
      res.status(503).json({ error: 'event store unavailable; the delivery was not accepted, resend it' });
    }
  });

  // Body-parser errors (size limit, aborted request) become JSON answers that name the problem.
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const e = err as { type?: string; status?: number; limit?: number };
    if (e.type === 'entity.too.large') {
      res.status(413).json({ error: `body larger than the ${e.limit ?? deps.maxBodyBytes}-byte limit` });
      return;
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: err instanceof Error ? err.message : 'bad request' });
      return;
    }
    next(err);
  });

  return router;
}

/** GitLab keeps Idempotency-Key across manual resends; older GitLab does not send it, so hash the body. */
export function dedupeKeyOf(idempotencyKey: string | undefined, raw: Buffer): string {
  if (idempotencyKey && idempotencyKey.length <= MAX_IDEMPOTENCY_KEY && /^[\x21-\x7e]+$/.test(idempotencyKey)) {
    return `idem:${idempotencyKey}`;
  }
  return `body:${createHash('sha256').update(raw).digest('hex')}`;
}
