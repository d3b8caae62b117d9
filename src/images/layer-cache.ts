import type Dockerode from 'dockerode';
import { dockerMessage, dockerStatus } from '../executors/docker-errors.js';
import { followProgress } from '../executors/docker-progress.js';
import { withTimeout } from '../executors/with-timeout.js';
import type { RegistryAuth } from '../registry/registry-digest.js';
import { RegistryClient } from '../registry/registry-client.js';
import { splitTag } from './build-options.js';

const INSPECT_TIMEOUT_MS = 15_000;

/**
 * Images the build may take layers from (`cachefrom`). The engine's own layer cache serves repeat
 * builds on this machine; on a fresh worker (or after a prune) the branch's previous image is pulled
 * so its layers count as cache too. A candidate not in the registry (a branch's first build) is
 * skipped: a cache source is an optimisation, never a reason to fail. Candidates are tried in
 * order and the first one present is used (the branch, then the default branch).
 */
export async function cacheSources(
  docker: Dockerode,
  opts: { candidates: readonly string[]; auth?: RegistryAuth; pullTimeoutMs: number; onLog: (line: string) => void },
): Promise<string[]> {
  for (const ref of new Set(opts.candidates)) {
    if (await present(docker, ref)) {
      opts.onLog(`layer cache: using local ${ref}`);
      return [ref];
    }
    const pulled = await pull(docker, ref, opts.auth, opts.pullTimeoutMs);
    if (pulled === true) {
      opts.onLog(`layer cache: pulled ${ref} as a cache source`);
      return [ref];
    }
    opts.onLog(`layer cache: ${ref} not available (${pulled})`);
  }
  return [];
}

async function present(docker: Dockerode, ref: string): Promise<boolean> {
  try {
    await withTimeout(docker.getImage(ref).inspect(), INSPECT_TIMEOUT_MS, `inspect image ${ref}`);
    return true;
  } catch (err) {
    if (dockerStatus(err) === 404) return false;
    throw err;
  }
}

/** true, or why not (a miss or an unreachable registry: both only mean "no cache source"). */
async function pull(docker: Dockerode, ref: string, auth: RegistryAuth | undefined, timeoutMs: number): Promise<true | string> {
  const abort = new AbortController();
  try {
    const stream = await withTimeout(docker.pull(ref, { abortSignal: abort.signal, ...(auth ? { authconfig: auth } : {}) }), timeoutMs, `pull ${ref}`);
    await followProgress(docker, stream, { timeoutMs, abort });
    return true;
  } catch (err) {
    abort.abort();
    return dockerMessage(err);
  }
}

/**
 * For BuildKit builds: the first candidate the registry holds, used as `cache-from` (BuildKit reads
 * the image's inline cache metadata and pulls only layers it reuses, so nothing is pulled up front).
 * Checked here because BuildKit logs a missing source as an ERROR line, which would alarm people
 * reading the first build of a branch.
 */
export async function registryCacheSources(opts: {
  registry: string;
  candidates: readonly string[];
  auth?: RegistryAuth;
  onLog: (line: string) => void;
}): Promise<string[]> {
  const client = new RegistryClient({
    registry: opts.registry,
    timeoutMs: INSPECT_TIMEOUT_MS,
    ...(opts.auth ? { auth: { username: opts.auth.username, password: opts.auth.password } } : {}),
  });
  for (const ref of new Set(opts.candidates)) {
    const { repo, tag } = splitTag(ref);
    if (!repo.startsWith(`${opts.registry}/`)) continue; // only our registry is asked
    try {
      if (await client.headManifest(repo.slice(opts.registry.length + 1), tag)) {
        opts.onLog(`layer cache: using ${ref} (its inline cache) as a cache source`);
        return [ref];
      }
      opts.onLog(`layer cache: ${ref} not in the registry yet`);
    } catch (err) {
      opts.onLog(`layer cache: ${ref} not available (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  return [];
}
