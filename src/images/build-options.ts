import type { ImageBuildOptions } from 'dockerode';

/** The labels every Slipway image carries, so an image can be traced back to its commit and run. */
export function imageLabels(opts: { sha: string; project: string; runId: string }): Record<string, string> {
  return {
    'org.opencontainers.image.revision': opts.sha,
    'io.slipway.project': opts.project,
    'io.slipway.run': opts.runId,
  };
}

/**
 * Pure: our build request → the engine's /build query. Only the first tag
 * goes here (the engine's typed API takes one `t`); the rest are added with
 * tag() after the build. rm/forcerm drop intermediate containers even when
 * a step fails, so a vfs engine does not fill up with layer copies.
 */
export function toBuildOptions(opts: {
  dockerfile: string;
  tags: readonly string[];
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
  /** Images whose layers count as cache (the engine's classic builder checks its local cache first). */
  cacheFrom?: readonly string[];
}): ImageBuildOptions {
  const [first] = opts.tags;
  if (first === undefined) throw new Error('an image build needs at least one tag');
  return {
    dockerfile: opts.dockerfile,
    t: first,
    labels: { ...opts.labels },
    buildargs: { ...opts.buildArgs },
    rm: true,
    forcerm: true,
    networkmode: 'host', // the engine has no bridge network: RUN steps can only use host or none
    // The engine wants a JSON array here; docker-modem would send an array as repeated parameters.
    ...(opts.cacheFrom && opts.cacheFrom.length > 0 ? { cachefrom: JSON.stringify(opts.cacheFrom) } : {}),
  };
}

/** 'host:port/group/app:tag' → { repo: 'host:port/group/app', tag: 'tag' } (a ':' after the last '/' is the tag). */
export function splitTag(ref: string): { repo: string; tag: string } {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  if (colon > slash) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repo: ref, tag: 'latest' };
}
