import type Dockerode from 'dockerode';
import { dockerMessage } from '../executors/docker-errors.js';
import { followProgress, type ProgressEvent } from '../executors/docker-progress.js';
import { withTimeout } from '../executors/with-timeout.js';
import { manifestDigest, type RegistryAuth } from '../registry/registry-digest.js';

export interface PushImageOptions {
  /** 'host:port/repo' — the registry host is required (no implicit Docker Hub). */
  image: string;
  tag: string;
  auth?: RegistryAuth;
  onLog: (line: string) => void;
  timeoutMs: number;
}

/**
 * Pushes image:tag and returns the manifest digest. The digest reported in
 * the push stream is checked against what the registry now serves for the
 * tag, so what we record is what a deploy will pull. Repeating a push is
 * harmless: layers already there are skipped and the digest is the same.
 */
export async function pushImage(docker: Dockerode, opts: PushImageOptions): Promise<{ digest: string }> {
  const { registry, repository } = splitImage(opts.image);
  const deadline = Date.now() + opts.timeoutMs;
  const abort = new AbortController();
  let digest = '';
  const onEvent = (e: ProgressEvent): void => {
    if (e.aux?.Digest) digest = e.aux.Digest;
    // Per-layer byte progress is noise in a run log; keep the state changes.
    if (e.status && e.status !== 'Pushing' && e.status !== 'Preparing' && e.status !== 'Waiting') opts.onLog(e.status);
  };
  const ref = `${opts.image}:${opts.tag}`;
  try {
    const stream = await withTimeout(
      docker.getImage(opts.image).push({
        tag: opts.tag,
        // The engine wants an X-Registry-Auth header even for anonymous pushes.
        authconfig: opts.auth ?? { username: '', password: '', serveraddress: registry },
        abortSignal: abort.signal,
      }),
      opts.timeoutMs,
      `push ${ref}`,
    );
    await followProgress(docker, stream, { timeoutMs: Math.max(1, deadline - Date.now()), abort, onEvent });
  } catch (err) {
    abort.abort();
    throw new Error(`push ${ref} failed: ${dockerMessage(err)}`);
  }
  if (!digest) throw new Error(`push ${ref}: the engine reported no digest`);
  const served = await manifestDigest({
    registry,
    repository,
    reference: opts.tag,
    ...(opts.auth ? { auth: opts.auth } : {}),
    timeoutMs: Math.max(1_000, deadline - Date.now()),
  });
  if (served !== digest) throw new Error(`push ${ref}: engine reported ${digest} but the registry serves ${served}`);
  return { digest };
}

/** 'host:port/repo' → its registry host and repository; a tag, digest or missing host is an error. */
export function splitImage(image: string): { registry: string; repository: string } {
  const slash = image.indexOf('/');
  const host = slash === -1 ? '' : image.slice(0, slash);
  if (!host || !(host.includes('.') || host.includes(':') || host === 'localhost')) {
    throw new Error(`image ${JSON.stringify(image)} must name its registry host (host[:port]/repo)`);
  }
  if (image.slice(slash + 1).includes(':') || image.includes('@')) {
    throw new Error(`image ${JSON.stringify(image)} must not carry a tag or digest; pass the tag separately`);
  }
  return { registry: host, repository: image.slice(slash + 1) };
}
