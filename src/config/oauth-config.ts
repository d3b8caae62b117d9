import { readFileSync } from 'node:fs';

/**
 * Sign-in with GitLab OAuth (the authorization code flow with PKCE, doc/api/oauth2.md): set when
 * SLIPWAY_GITLAB_OAUTH_APP_ID is. The application is registered in GitLab with the redirect URI
 * below and the `read_api` scope.
 */
export interface OAuthConfig {
  /** The application's id (client_id). */
  appId: string;
  /** Its secret (client_secret). Secret: masked in every log line. */
  secret: string;
  /** Where the browser is sent to approve (`<url>/oauth/authorize`): SLIPWAY_GITLAB_OAUTH_URL, default GITLAB_URL. */
  authorizeBase: string;
  /** `<SLIPWAY_PUBLIC_URL>/sign-in/gitlab/callback`: the redirect URI registered with the application. */
  redirectUri: string;
}

/** The scope Slipway asks for: who the person is (GET /user) and their access levels (members API). */
export const OAUTH_SCOPE = 'read_api';

export type ReadFile = (path: string) => string;
const readUtf8: ReadFile = (p) => readFileSync(p, 'utf8');

/**
 * The OAuth settings, or every problem with them. The secret comes from SLIPWAY_GITLAB_OAUTH_SECRET
 * or from the file SLIPWAY_GITLAB_OAUTH_SECRET_FILE names (a mounted Kubernetes or Docker secret;
 * one trailing newline is dropped). No value is ever put in a problem.
 */
export function readOAuthConfig(
  env: Record<string, string | undefined>,
  urls: { publicUrl: string; gitlabUrl: string },
  readFile: ReadFile = readUtf8,
): { oauth: OAuthConfig | undefined; problems: string[] } {
  const appId = env['SLIPWAY_GITLAB_OAUTH_APP_ID'];
  const inline = env['SLIPWAY_GITLAB_OAUTH_SECRET'];
  const file = env['SLIPWAY_GITLAB_OAUTH_SECRET_FILE'];
  const url = env['SLIPWAY_GITLAB_OAUTH_URL'];
  const problems: string[] = [];
  if (appId === undefined) {
    const stray = (['SLIPWAY_GITLAB_OAUTH_SECRET', 'SLIPWAY_GITLAB_OAUTH_SECRET_FILE', 'SLIPWAY_GITLAB_OAUTH_URL'] as const).filter(
      (n) => env[n] !== undefined,
    );
    if (stray.length > 0) problems.push(`${stray.join(', ')} set without SLIPWAY_GITLAB_OAUTH_APP_ID (the GitLab application's id): set it, or unset them`);
    return { oauth: undefined, problems };
  }
  if (!/^[\x21-\x7e]{1,255}$/.test(appId)) problems.push('SLIPWAY_GITLAB_OAUTH_APP_ID must be the GitLab application id (printable characters, no spaces)');
  let secret: string | undefined;
  if (inline !== undefined && file !== undefined) {
    problems.push('SLIPWAY_GITLAB_OAUTH_SECRET and SLIPWAY_GITLAB_OAUTH_SECRET_FILE are both set: set one of them');
  } else if (inline !== undefined) {
    secret = inline;
  } else if (file !== undefined) {
    try {
      secret = readFile(file).replace(/\r?\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      problems.push(`SLIPWAY_GITLAB_OAUTH_SECRET_FILE names a file that cannot be read (${code}): ${file}`);
    }
  } else {
    problems.push('SLIPWAY_GITLAB_OAUTH_APP_ID needs the application secret: SLIPWAY_GITLAB_OAUTH_SECRET or SLIPWAY_GITLAB_OAUTH_SECRET_FILE');
  }
  if (secret !== undefined && !/^[\x21-\x7e]{8,512}$/.test(secret)) {
    problems.push('the GitLab application secret must be 8 to 512 printable characters without spaces (as GitLab shows it)');
  }
  let authorizeBase = urls.gitlabUrl;
  if (url !== undefined) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      // reported below
    }
    if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) problems.push('SLIPWAY_GITLAB_OAUTH_URL must be an absolute http(s) URL');
    else if (parsed.username !== '' || parsed.password !== '') problems.push('SLIPWAY_GITLAB_OAUTH_URL must not contain credentials (user:token@)');
    else authorizeBase = url.replace(/\/+$/, '');
  }
  if (problems.length > 0 || secret === undefined) return { oauth: undefined, problems };
  return { oauth: { appId, secret, authorizeBase, redirectUri: `${urls.publicUrl}/sign-in/gitlab/callback` }, problems };
}
