export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

// Accept every manifest type we may push: the registry answers with the
// digest of the manifest as stored, which is what the engine reported.
const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ');

/** Loopback registries are plain http (test and embedded setups); anything else must be https. */
export function registryBaseUrl(registry: string): string {
  const host = registry.replace(/:\d+$/, '');
  const plain = host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
  return `${plain ? 'http' : 'https'}://${registry}`;
}

/**
 * HEAD /v2/<repo>/manifests/<ref> → Docker-Content-Digest. Handles the
 * registry's auth challenge: Basic directly, Bearer via the token realm
 * (Harbor, distribution with token auth).
 */
export async function manifestDigest(opts: {
  registry: string;
  repository: string;
  reference: string;
  auth?: RegistryAuth;
  timeoutMs: number;
}): Promise<string> {
  const signal = AbortSignal.timeout(opts.timeoutMs);
  const url = `${registryBaseUrl(opts.registry)}/v2/${opts.repository}/manifests/${encodeURIComponent(opts.reference)}`;
  const head = (authorization?: string): Promise<Response> =>
    fetch(url, { method: 'HEAD', headers: { Accept: MANIFEST_TYPES, ...(authorization ? { Authorization: authorization } : {}) }, signal });
  let res = await head();
  if (res.status === 401 && opts.auth) {
    res = await head(await authorizationFor(res.headers.get('www-authenticate') ?? '', opts.auth, opts.repository, signal));
  }
  const digest = res.headers.get('docker-content-digest');
  if (!res.ok || !digest) {
    throw new Error(`registry ${opts.registry}: HEAD manifest ${opts.repository}:${opts.reference} answered ${res.status}${digest ? '' : ' without a digest'}`);
  }
  return digest;
}

async function authorizationFor(challenge: string, auth: RegistryAuth, repository: string, signal: AbortSignal): Promise<string> {
  const basic = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
  if (!/^bearer /i.test(challenge)) return basic;
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
  if (!params['realm']) throw new Error('registry bearer challenge without a realm');
  const tokenUrl = new URL(params['realm']);
  if (params['service']) tokenUrl.searchParams.set('service', params['service']);
  tokenUrl.searchParams.set('scope', params['scope'] ?? `repository:${repository}:pull`);
  const res = await fetch(tokenUrl, { headers: { Authorization: basic }, signal });
  if (!res.ok) throw new Error(`registry token request answered ${res.status}`);
  const body = (await res.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new Error('registry token response without a token');
  return `Bearer ${token}`;
}
