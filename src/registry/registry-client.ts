import { deleteScope, pullScope, pushScope } from './auth.js';
import { RegistryError } from './errors.js';
import { RegistryHttp, type RegistryHttpOptions } from './http.js';
import { isDigest, sha256Digest } from './manifest.js';
import { MANIFEST_ACCEPT } from './media-types.js';

export type { Credentials } from './auth.js';
export { RegistryError } from './errors.js';
export { registryBaseUrl, type RegistryHttpOptions } from './http.js';

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export interface RawManifest {
  /** Exactly as served: the digest is over these bytes, so they are never re-serialised. */
  bytes: Buffer;
  mediaType: string;
  digest: string;
}

export type MountResult = { mounted: true } | { mounted: false; uploadUrl: string };

// Repository names per the distribution spec: lowercase path components.
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function checkRepository(repository: string): string {
  if (!REPOSITORY.test(repository)) throw new Error(`invalid repository name ${JSON.stringify(repository)}`);
  return repository;
}

function checkReference(reference: string): string {
  if (!TAG.test(reference) && !isDigest(reference)) throw new Error(`invalid tag or digest ${JSON.stringify(reference)}`);
  return reference;
}

/**
 * A Registry HTTP API v2 client (OCI distribution spec) for one registry.
 * Reads are safe to repeat; uploads are idempotent by digest and manifest
 * PUTs by content, so retried calls change nothing the first did not.
 */
export class RegistryClient {
  readonly http: RegistryHttp;

  constructor(opts: RegistryHttpOptions) {
    this.http = new RegistryHttp(opts);
  }

  get registry(): string {
    return this.http.registry;
  }

  /** GET /v2/: reachable and the credentials are accepted. */
  async ping(): Promise<void> {
    const res = await this.http.send({ call: 'GET /v2/', method: 'GET', target: '/v2/', scopes: [], expect: [] });
    await res.body?.cancel();
  }

  /** HEAD manifest; undefined when the tag or digest does not exist. */
  async headManifest(repository: string, reference: string): Promise<ManifestHead | undefined> {
    const call = `HEAD manifest ${repository}${sep(reference)}`;
    const res = await this.http.send({
      call,
      method: 'HEAD',
      target: manifestPath(repository, reference),
      scopes: [pullScope(repository)],
      headers: { Accept: MANIFEST_ACCEPT },
      expect: [404],
    });
    if (res.status === 404) return undefined;
    const digest = res.headers.get('docker-content-digest');
    if (!digest) throw this.invalid(call, res.status, 'no Docker-Content-Digest header');
    return { digest, mediaType: contentType(res), size: Number(res.headers.get('content-length') ?? 0) };
  }

  /** GET manifest; the digest is computed over the bytes and checked against the header and a digest reference. */
  async getManifest(repository: string, reference: string): Promise<RawManifest> {
    const call = `GET manifest ${repository}${sep(reference)}`;
    const res = await this.http.send({
      call,
      method: 'GET',
      target: manifestPath(repository, reference),
      scopes: [pullScope(repository)],
      headers: { Accept: MANIFEST_ACCEPT },
      expect: [],
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    const digest = sha256Digest(bytes);
    const served = res.headers.get('docker-content-digest');
    if ((served && served !== digest) || (isDigest(reference) && reference !== digest)) {
      throw this.invalid(call, res.status, `content hashes to ${digest} but ${served ?? reference} was expected`);
    }
    return { bytes, mediaType: contentType(res), digest };
  }

  /** PUT manifest under a tag or its digest; returns the digest the registry stored. */
  async putManifest(repository: string, reference: string, manifest: { bytes: Buffer; mediaType: string }): Promise<string> {
    const call = `PUT manifest ${repository}${sep(reference)}`;
    const res = await this.http.send({
      call,
      method: 'PUT',
      target: manifestPath(repository, reference),
      scopes: [pushScope(repository)],
      headers: { 'Content-Type': manifest.mediaType },
      body: manifest.bytes,
      expect: [],
    });
    await res.body?.cancel();
    return res.headers.get('docker-content-digest') ?? sha256Digest(manifest.bytes);
  }

  /**
   * DELETE manifest by digest (the distribution spec's only portable form: distribution answers
   * UNSUPPORTED for a tag). It removes every tag on that manifest; blobs stay until the registry's
   * garbage collection. false when it was already gone (404), so a repeated delete is harmless.
   */
  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    if (!isDigest(digest)) throw new Error(`deleting needs a manifest digest, not ${JSON.stringify(digest)}`);
    const res = await this.http.send({
      call: `DELETE manifest ${repository}@${digest}`,
      method: 'DELETE',
      target: manifestPath(repository, digest),
      scopes: [deleteScope(repository)],
      expect: [404],
    });
    await res.body?.cancel();
    return res.status !== 404;
  }

  /** HEAD blob; undefined when this repository does not have it. */
  async headBlob(repository: string, digest: string): Promise<{ size: number } | undefined> {
    const res = await this.http.send({
      call: `HEAD blob ${repository}@${digest}`,
      method: 'HEAD',
      target: blobPath(repository, digest),
      scopes: [pullScope(repository)],
      expect: [404],
    });
    await res.body?.cancel();
    return res.status === 404 ? undefined : { size: Number(res.headers.get('content-length') ?? 0) };
  }

  /** GET blob as a stream (redirects to storage are followed). The caller must consume or cancel it. */
  async getBlob(repository: string, digest: string): Promise<ReadableStream<Uint8Array>> {
    const call = `GET blob ${repository}@${digest}`;
    const res = await this.http.send({ call, method: 'GET', target: blobPath(repository, digest), scopes: [pullScope(repository)], expect: [], blob: true });
    if (!res.body) throw this.invalid(call, res.status, 'empty body');
    return res.body;
  }

  /**
   * Cross-repository mount: POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<repo>.
   * 201 means mounted; 202 means the registry declined (no access, or another
   * registry's storage) and opened an upload session to use instead.
   */
  async mountBlob(repository: string, digest: string, from: string): Promise<MountResult> {
    const call = `POST mount ${repository}@${digest} from ${from}`;
    const q = new URLSearchParams({ mount: digest, from: checkRepository(from) });
    const res = await this.http.send({
      call,
      method: 'POST',
      target: `/v2/${checkRepository(repository)}/blobs/uploads/?${q}`,
      scopes: [pushScope(repository), pullScope(from)],
      expect: [],
      headers: { 'Content-Length': '0' },
    });
    await res.body?.cancel();
    if (res.status === 201) return { mounted: true };
    return { mounted: false, uploadUrl: this.location(call, res) };
  }

  /** POST to open an upload session; returns its Location. */
  async startUpload(repository: string): Promise<string> {
    const call = `POST upload ${repository}`;
    const res = await this.http.send({
      call,
      method: 'POST',
      target: `/v2/${checkRepository(repository)}/blobs/uploads/`,
      scopes: [pushScope(repository)],
      expect: [],
      headers: { 'Content-Length': '0' },
    });
    await res.body?.cancel();
    return this.location(call, res);
  }

  /**
   * Monolithic upload: PUT <location>?digest=… with the whole blob. A stream
   * body cannot be replayed, so it is sent once; the registry checks the digest.
   */
  async putBlob(repository: string, uploadUrl: string, digest: string, body: Buffer | ReadableStream<Uint8Array>, size: number): Promise<void> {
    const url = new URL(this.http.url(uploadUrl));
    url.searchParams.set('digest', digest);
    const res = await this.http.send({
      call: `PUT blob ${repository}@${digest}`,
      method: 'PUT',
      target: url.toString(),
      scopes: [pushScope(repository)],
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
      body,
      expect: [],
      blob: true,
      retry: Buffer.isBuffer(body),
    });
    await res.body?.cancel();
  }

  /** Upload a blob held in memory (configs, small layers, tests). */
  async uploadBlob(repository: string, digest: string, bytes: Buffer): Promise<void> {
    await this.putBlob(repository, await this.startUpload(repository), digest, bytes, bytes.length);
  }

  /** GET /v2/<repo>/tags/list, following Link pagination. Missing repository → []. */
  async listTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let target: string | undefined = `/v2/${checkRepository(repository)}/tags/list?n=1000`;
    for (let page = 0; target && page < 1000; page++) {
      const res: Response = await this.http.send({ call: `GET tags ${repository}`, method: 'GET', target, scopes: [pullScope(repository)], expect: [404] });
      if (res.status === 404) {
        await res.body?.cancel();
        return [];
      }
      const body = (await res.json()) as { tags?: unknown };
      if (Array.isArray(body.tags)) tags.push(...body.tags.filter((t): t is string => typeof t === 'string'));
      target = /<([^>]+)>;\s*rel="?next"?/.exec(res.headers.get('link') ?? '')?.[1];
    }
    return tags;
  }

  private location(call: string, res: Response): string {
    const loc = res.headers.get('location');
    if (!loc) throw this.invalid(call, res.status, 'no Location header');
    return loc;
  }

  private invalid(call: string, status: number, detail: string): RegistryError {
    return new RegistryError({ registry: this.registry, call, status, retryable: false, attempts: 1, detail });
  }
}

function manifestPath(repository: string, reference: string): string {
  return `/v2/${checkRepository(repository)}/manifests/${checkReference(reference)}`;
}

function blobPath(repository: string, digest: string): string {
  if (!isDigest(digest)) throw new Error(`invalid blob digest ${JSON.stringify(digest)}`);
  return `/v2/${checkRepository(repository)}/blobs/${digest}`;
}

function sep(reference: string): string {
  return isDigest(reference) ? `@${reference}` : `:${reference}`;
}

function contentType(res: Response): string {
  return (res.headers.get('content-type') ?? '').split(';')[0]?.trim() ?? '';
}
