import { RegistryClient } from './registry-client.js';

export { registryBaseUrl } from './http.js';

/** Docker's authconfig shape (what the engine's push takes); the registry client reads username and password. */
export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

/**
 * HEAD /v2/<repo>/manifests/<ref> → Docker-Content-Digest, with the
 * registry's auth challenge answered (Basic, or Bearer through the realm).
 */
export async function manifestDigest(opts: {
  registry: string;
  repository: string;
  reference: string;
  auth?: RegistryAuth;
  timeoutMs: number;
}): Promise<string> {
  const auth = opts.auth ? { username: opts.auth.username, password: opts.auth.password } : undefined;
  const client = new RegistryClient({ registry: opts.registry, timeoutMs: opts.timeoutMs, ...(auth ? { auth } : {}) });
  const head = await client.headManifest(opts.repository, opts.reference);
  if (!head) throw new Error(`registry ${opts.registry}: HEAD manifest ${opts.repository}:${opts.reference} answered 404`);
  return head.digest;
}
