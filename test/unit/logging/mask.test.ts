import { describe, expect, it } from 'vitest';
import { createMasker } from '../../../src/logging/mask.js';

describe('masking secrets', () => {
  const mask = createMasker(['s3cr3t/value+x']);
  it('masks the plain, URL-encoded and base64 forms', () => {
    expect(mask('token=s3cr3t/value+x')).toBe('token=[MASKED]');
    expect(mask(`url=https://u:${encodeURIComponent('s3cr3t/value+x')}@host`)).toBe('url=https://u:[MASKED]@host');
    expect(mask(`Basic ${Buffer.from('s3cr3t/value+x').toString('base64')}`)).toBe('Basic [MASKED]');
  });
  it('leaves other text alone', () => {
    expect(mask('nothing to see')).toBe('nothing to see');
  });
});
