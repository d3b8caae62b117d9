import { describe, expect, it } from 'vitest';
import { createMasker } from '../../../src/logging/mask.js';
import { decrypt, encrypt, parseKey } from '../../../src/variables/crypto.js';
import { validateVariable } from '../../../src/variables/variable-store.js';

const SECRET = 'p4ss/w0rd+Sekr3t!';

describe('masking variable values', () => {
  const mask = createMasker([SECRET, 'line-one-of-key\nline-two-of-key']);
  it('masks plain, URL-, form- and JSON-encoded forms', () => {
    expect(mask(`x=${SECRET}`)).toBe('x=[MASKED]');
    expect(mask(`u=${encodeURIComponent(SECRET)}`)).toBe('u=[MASKED]');
    expect(mask(JSON.stringify({ v: SECRET }))).toBe('{"v":"[MASKED]"}');
  });
  it('masks base64 at any offset inside a longer base64 string', () => {
    for (const user of ['', 'a', 'ab', 'abc:']) {
      const encoded = Buffer.from(`${user}${SECRET}`).toString('base64');
      const out = mask(`Authorization: Basic ${encoded}`);
      expect(out).toContain('[MASKED]');
      // At most a few characters at each edge remain, not enough to recover the value.
      expect(out.replace(/.*Basic /, '').replace('[MASKED]', '').length).toBeLessThanOrEqual(12);
    }
  });
  it('masks a value split across lines and each line of a multi-line value', () => {
    const half = Math.floor(SECRET.length / 2);
    const out = mask(`token: ${SECRET.slice(0, half)}\n${SECRET.slice(half)} done`);
    expect(out).not.toContain(SECRET.slice(0, half));
    expect(out).not.toContain(SECRET.slice(half));
    expect(mask('key:\nline-two-of-key\n')).toBe('key:\n[MASKED]\n');
  });
  it('leaves ordinary text alone', () => {
    expect(mask('npm test passed in 3.2s\nall good')).toBe('npm test passed in 3.2s\nall good');
  });
});

describe('variables at rest', () => {
  const key = parseKey('00'.repeat(32));
  it('round-trips and refuses a value moved to another variable', () => {
    const sealed = encrypt(key, SECRET, '1:*:TOKEN');
    expect(sealed).not.toContain(SECRET);
    expect(decrypt(key, sealed, '1:*:TOKEN')).toBe(SECRET);
    expect(() => decrypt(key, sealed, '2:*:TOKEN')).toThrow();
  });
  it('rejects short masked values and bad names', () => {
    expect(validateVariable({ name: 'T', value: 'short', environment: '*', masked: true, protected: false })).toMatch(/at least 8/);
    expect(validateVariable({ name: '1X', value: 'whatever', environment: '*', masked: false, protected: false })).toMatch(/name/);
    expect(() => parseKey('abc')).toThrow(/32 bytes/);
  });
});
