import { createHmac } from 'node:crypto';
import { safeEqual } from './verify-token.js';

/** Standard Webhooks (what newer GitLab sends when a signing token is set on the hook). */
export interface SignatureHeaders {
  id: string | undefined;
  timestamp: string | undefined;
  signature: string | undefined;
}

export type SignatureVerdict = { ok: true } | { ok: false; reason: string };

const TOLERANCE_SECONDS = 5 * 60;

export function verifySignature(
  raw: Buffer,
  headers: SignatureHeaders,
  signingSecret: string,
  nowSeconds: number = Math.floor(Date.now() / 1000),
): SignatureVerdict {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) {
    return { ok: false, reason: 'missing webhook-id, webhook-timestamp or webhook-signature header (signing is required)' };
  }
  const ts = Number(timestamp);
  if (!Number.isInteger(ts)) return { ok: false, reason: 'webhook-timestamp is not a whole number of seconds' };
  if (Math.abs(nowSeconds - ts) > TOLERANCE_SECONDS) return { ok: false, reason: 'webhook-timestamp is more than 5 minutes away from now' };
  const key = Buffer.from(signingSecret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.`).update(raw).digest('base64');
  // The header may carry several space-separated signatures (key rotation); any v1 match is enough.
  const matches = signature
    .split(' ')
    .map((part) => part.split(','))
    .some(([version, value]) => version === 'v1' && value !== undefined && safeEqual(value, expected));
  return matches ? { ok: true } : { ok: false, reason: 'webhook-signature does not match the body' };
}

/** For tests and tools that sign deliveries the way GitLab does. */
export function signDelivery(raw: Buffer, id: string, timestamp: number, signingSecret: string): string {
  const key = Buffer.from(signingSecret.replace(/^whsec_/, ''), 'base64');
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.`).update(raw).digest('base64')}`;
}
