import { describe, expect, it } from 'vitest';
import { readConfig, secretsOf } from '../../../src/config/config.js';

const base = {
  GITLAB_URL: 'https://gitlab.example.com',
  GITLAB_TOKEN: 'glpat-bot',
  SLIPWAY_WEBHOOK_SECRET: 'hook-secret',
  SLIPWAY_PUBLIC_URL: 'https://ci.example.com/',
};
const SECRET = 'gloas-0123456789abcdef';
const files = (map: Record<string, string>) => (p: string) => {
  const text = map[p];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
  return text;
};

describe('GitLab OAuth settings', () => {
  it('is off unless the application id is set', () => {
    const r = readConfig(base);
    expect(r.ok && r.config.ui.oauth).toBe(undefined);
  });

  it('takes the secret from a file (one trailing newline dropped), derives the redirect URI and masks the secret', () => {
    const r = readConfig(
      { ...base, SLIPWAY_GITLAB_OAUTH_APP_ID: 'app-1', SLIPWAY_GITLAB_OAUTH_SECRET_FILE: '/run/secrets/oauth' },
      files({ '/run/secrets/oauth': `${SECRET}\n` }),
    );
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.config.ui.oauth).toEqual({
      appId: 'app-1',
      secret: SECRET,
      authorizeBase: 'https://gitlab.example.com',
      redirectUri: 'https://ci.example.com/sign-in/gitlab/callback',
    });
    expect(secretsOf(r.config)).toContain(SECRET);
  });

  it('lets the browser-facing GitLab URL differ from GITLAB_URL', () => {
    const r = readConfig({
      ...base,
      SLIPWAY_GITLAB_OAUTH_APP_ID: 'app-1',
      SLIPWAY_GITLAB_OAUTH_SECRET: SECRET,
      SLIPWAY_GITLAB_OAUTH_URL: 'https://gitlab.example.com/',
    });
    expect(r.ok && r.config.ui.oauth?.authorizeBase).toBe('https://gitlab.example.com');
  });

  it('names every problem and never a value', () => {
    const missing = readConfig({ ...base, SLIPWAY_GITLAB_OAUTH_APP_ID: 'app-1' });
    expect(!missing.ok && missing.problems).toEqual([
      'SLIPWAY_GITLAB_OAUTH_APP_ID needs the application secret: SLIPWAY_GITLAB_OAUTH_SECRET or SLIPWAY_GITLAB_OAUTH_SECRET_FILE',
    ]);
    const both = readConfig({ ...base, SLIPWAY_GITLAB_OAUTH_APP_ID: 'a', SLIPWAY_GITLAB_OAUTH_SECRET: SECRET, SLIPWAY_GITLAB_OAUTH_SECRET_FILE: '/x' });
    expect(!both.ok && both.problems).toEqual(['SLIPWAY_GITLAB_OAUTH_SECRET and SLIPWAY_GITLAB_OAUTH_SECRET_FILE are both set: set one of them']);
    const unreadable = readConfig({ ...base, SLIPWAY_GITLAB_OAUTH_APP_ID: 'a', SLIPWAY_GITLAB_OAUTH_SECRET_FILE: '/nope' }, files({}));
    expect(!unreadable.ok && unreadable.problems).toEqual(['SLIPWAY_GITLAB_OAUTH_SECRET_FILE names a file that cannot be read (ENOENT): /nope']);
    const stray = readConfig({ ...base, SLIPWAY_GITLAB_OAUTH_SECRET: SECRET });
    expect(!stray.ok && stray.problems).toEqual([
      "SLIPWAY_GITLAB_OAUTH_SECRET set without SLIPWAY_GITLAB_OAUTH_APP_ID (the GitLab application's id): set it, or unset them",
    ]);
    const short = readConfig({ ...base, SLIPWAY_GITLAB_OAUTH_APP_ID: 'a', SLIPWAY_GITLAB_OAUTH_SECRET: 'short', SLIPWAY_GITLAB_OAUTH_URL: 'ftp://x' });
    expect(!short.ok && short.problems).toEqual([
      'the GitLab application secret must be 8 to 512 printable characters without spaces (as GitLab shows it)',
      'SLIPWAY_GITLAB_OAUTH_URL must be an absolute http(s) URL',
    ]);
    expect(JSON.stringify(short)).not.toContain('short"');
  });
});
