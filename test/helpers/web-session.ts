/** Signing in to a running Slipway's web UI the way a browser does (form + cookies), for plain HTTP tests. */
export interface WebSession {
  cookie: string;
  csrf: string;
  /** The Set-Cookie header of the sign-in answer. */
  setCookie: string;
}

export const cookieValue = (setCookie: string | null, name: string): string | undefined =>
  new RegExp(`(?:^|[;,]\\s*)${name}=([^;]*)`).exec(setCookie ?? '')?.[1];

export const csrfOf = (page: string): string | undefined => /name="_csrf" value="([^"]+)"/.exec(page)?.[1];

export async function signInForm(url: string, headers: Record<string, string> = {}): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await fetch(`${url}/sign-in`, { headers });
  const setCookie = res.headers.get('set-cookie') ?? '';
  const csrf = csrfOf(await res.text()) ?? '';
  return { cookie: `slipway_signin_csrf=${cookieValue(setCookie, 'slipway_signin_csrf') ?? ''}`, csrf, setCookie };
}

export async function signIn(url: string, token: string, headers: Record<string, string> = {}): Promise<WebSession> {
  const form = await signInForm(url, headers);
  const res = await fetch(`${url}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...headers, cookie: form.cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: form.csrf, token, next: '/pipelines' }),
  });
  if (res.status !== 303) throw new Error(`sign-in answered ${res.status}: ${await res.text()}`);
  const setCookie = res.headers.get('set-cookie') ?? '';
  const cookie = `slipway_session=${cookieValue(setCookie, 'slipway_session') ?? ''}`;
  const page = await (await fetch(`${url}/pipelines`, { headers: { cookie } })).text();
  return { cookie, csrf: csrfOf(page) ?? '', setCookie };
}
