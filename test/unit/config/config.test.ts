import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/config/config.js';

const base = { GITLAB_URL: 'https://gitlab.example.com', GITLAB_TOKEN: 'glpat-secret-value', SLIPWAY_WEBHOOK_SECRET: 'hook-secret' };

describe('readConfig', () => {
  it('fills the embedded defaults', () => {
    const r = readConfig(base);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.redisUrl).toBeUndefined();
    expect(r.config.http).toEqual({ host: '127.0.0.1', port: 8080, publicUrl: 'http://127.0.0.1:8080' });
    expect(r.config.gitBaseUrl).toBe('https://gitlab.example.com');
  });

  it('reports every problem at once and never prints a value', () => {
    const r = readConfig({ GITLAB_URL: 'not a url', SLIPWAY_PORT: 'eighty', REDIS_URL: 'http://glpat-leaky', SLIPWAY_WEBHOOK_SIGNING_SECRET: 'plain' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.problems.join('\n');
    for (const name of ['GITLAB_URL', 'GITLAB_TOKEN', 'SLIPWAY_PORT', 'REDIS_URL', 'SLIPWAY_WEBHOOK_SIGNING_SECRET']) expect(text).toContain(name);
    expect(text).not.toContain('glpat-leaky');
  });

  it('requires a webhook secret', () => {
    const r = readConfig({ GITLAB_URL: base.GITLAB_URL, GITLAB_TOKEN: base.GITLAB_TOKEN });
    expect(r).toEqual({ ok: false, problems: [expect.stringContaining('SLIPWAY_WEBHOOK_SECRET')] });
  });
});
