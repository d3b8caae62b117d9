import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { signDelivery, verifySignature } from '../../../src/webhooks/verify-signature.js';

// The Standard Webhooks specification's published vector: the same secret, id, timestamp, payload
// and signature appear in the reference libraries' tests (standard-webhooks/standard-webhooks,
// libraries/go/webhook_test.go TestWebhookSign, and the other languages' equivalents).
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  payload: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
// Another signature the reference tests use as a wrong one (and as a decoy in multi-signature headers).
const WRONG = 'v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=';

const headers = (signature: string, timestamp = String(SPEC.timestamp)) => ({ id: SPEC.id, timestamp, signature });

describe('Standard Webhooks signatures against the specification', () => {
  it('accepts the published test vector', () => {
    expect(verifySignature(Buffer.from(SPEC.payload), headers(SPEC.signature), SPEC.secret, SPEC.timestamp)).toEqual({ ok: true });
  });

  it('accepts the vector with the secret given without its whsec_ prefix', () => {
    expect(verifySignature(Buffer.from(SPEC.payload), headers(SPEC.signature), SPEC.secret.slice('whsec_'.length), SPEC.timestamp)).toEqual({ ok: true });
  });

  it('signs the vector byte for byte as the specification does', () => {
    expect(signDelivery(Buffer.from(SPEC.payload), SPEC.id, SPEC.timestamp, SPEC.secret)).toBe(SPEC.signature);
  });

  it('refuses the vector with a wrong signature, a changed payload, id or timestamp', () => {
    const refused = { ok: false, reason: 'webhook-signature does not match the body' };
    expect(verifySignature(Buffer.from(SPEC.payload), headers(WRONG), SPEC.secret, SPEC.timestamp)).toEqual(refused);
    expect(verifySignature(Buffer.from('{"test": 2432232315}'), headers(SPEC.signature), SPEC.secret, SPEC.timestamp)).toEqual(refused);
    expect(verifySignature(Buffer.from(SPEC.payload), { ...headers(SPEC.signature), id: 'msg_other' }, SPEC.secret, SPEC.timestamp)).toEqual(refused);
    expect(verifySignature(Buffer.from(SPEC.payload), headers(SPEC.signature, String(SPEC.timestamp + 1)), SPEC.secret, SPEC.timestamp)).toEqual(refused);
  });

  it('accepts a header with several signatures when one v1 signature matches (key rotation)', () => {
    const several = [WRONG, WRONG.replace('v1,', 'v2,'), SPEC.signature, WRONG].join(' ');
    expect(verifySignature(Buffer.from(SPEC.payload), headers(several), SPEC.secret, SPEC.timestamp)).toEqual({ ok: true });
    // The right value under another version is no v1 signature.
    expect(verifySignature(Buffer.from(SPEC.payload), headers(SPEC.signature.replace('v1,', 'v2,')), SPEC.secret, SPEC.timestamp).ok).toBe(false);
  });

  it('refuses the vector outside the five-minute tolerance on either side', () => {
    expect(verifySignature(Buffer.from(SPEC.payload), headers(SPEC.signature), SPEC.secret, SPEC.timestamp + 301).ok).toBe(false);
    expect(verifySignature(Buffer.from(SPEC.payload), headers(SPEC.signature), SPEC.secret, SPEC.timestamp - 301).ok).toBe(false);
  });

  it('verifies what the independent standardwebhooks package signs', () => {
    const secret = `whsec_${Buffer.from('another key, 32 bytes of length!').toString('base64')}`;
    const payload = Buffer.from('{"object_kind":"push","ref":"refs/heads/main"}');
    const ts = 1_700_000_000;
    const signature = new Webhook(secret).sign('msg_2bc7d1', new Date(ts * 1000), payload);
    expect(verifySignature(payload, { id: 'msg_2bc7d1', timestamp: String(ts), signature }, secret, ts)).toEqual({ ok: true });
    // And the package accepts what we sign (it checks the timestamp against its own clock).
    const now = Math.floor(Date.now() / 1000);
    const ours = signDelivery(payload, 'msg_2bc7d1', now, secret);
    expect(new Webhook(secret).verify(payload, { 'webhook-id': 'msg_2bc7d1', 'webhook-timestamp': String(now), 'webhook-signature': ours })).toEqual(
      JSON.parse(payload.toString()),
    );
  });
});
