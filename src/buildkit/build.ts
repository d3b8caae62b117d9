import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { dockerMessage } from '../executors/docker-errors.js';
import { followProgress, type ProgressEvent } from '../executors/docker-progress.js';
import { withTimeout } from '../executors/with-timeout.js';
import { splitTag, toBuildOptions } from '../images/build-options.js';
import type { ImageBuildRequest } from '../images/image-builder.js';
import { sendTree, type SyncStats } from './diffcopy.js';
import { openEngineSession, type EngineAddress } from './engine-session.js';
import type { GrpcCall } from './grpc-server.js';
import { BlobReader, listTree, type TreeEntry } from './git-tree.js';
import { HEALTH_SERVING, decodeTrace } from './messages.js';
import { credentialsFor, type RegistryCredentials } from './session-auth.js';
import { followPathIncludes, selectEntries } from './tree-filter.js';
import { TraceLog } from './trace-log.js';

/**
 * What a BuildKit build takes: the seam's request (mirror, commit, context, Dockerfile, tags, labels,
 * args, log, deadline) with BuildKit's own ways to name cache sources and registry credentials.
 */
export interface BuildKitBuildOptions extends Omit<ImageBuildRequest, 'cacheCandidates' | 'registryAuth'> {
  /** Registry images whose inline cache may serve steps (BuildKit reads them from the registry). */
  cacheFrom?: readonly string[];
  /** Credentials the engine may ask for when it pulls a base image or cache from this registry. */
  registryAuth?: RegistryCredentials;
  /** Rebuild every step (the benchmark's cold baseline). */
  noCache?: boolean;
}

export interface BuildKitResult {
  imageId: string;
  /** Dockerfile steps answered from the cache. */
  cachedSteps: number;
  /** What each file sync sent: the proof that only changed files travel. */
  syncs: (SyncStats & { source: string })[];
}

const DIFFCOPY = '/moby.filesync.v1.FileSync/DiffCopy';
const HEALTH = '/grpc.health.v1.Health/Check';
const CREDENTIALS = '/moby.filesync.v1.Auth/Credentials';

/**
 * Builds with the engine's BuildKit (Engine API `version=2`) and feeds it the commit's files over a
 * session (the docker CLI's `DOCKER_BUILDKIT=1` path) straight from the mirror: no checkout, no
 * context tar, and on a rebuild only the files that changed are sent (fsutil DiffCopy against the
 * engine's copy from the last build). The engine's progress trace becomes the job's build log.
 */
export async function buildImageWithBuildKit(docker: Dockerode, opts: BuildKitBuildOptions): Promise<BuildKitResult> {
  const deadline = Date.now() + opts.timeoutMs;
  const blobs = new BlobReader(opts.mirrorDir);
  const syncs: BuildKitResult['syncs'] = [];
  const log = new TraceLog(opts.onLog);
  const contextDir = normalizeDir(opts.contextDir ?? '');
  const dockerfilePath = posix.normalize(opts.dockerfile).replace(/^(\.\/)+/, '');
  if (!opts.dockerfileContent && (dockerfilePath.startsWith('../') || dockerfilePath.startsWith('/'))) {
    throw new Error(`the Dockerfile ${JSON.stringify(opts.dockerfile)} must be inside the build context`);
  }
  const dockerfileName = opts.dockerfileContent ? 'Dockerfile' : posix.basename(dockerfilePath);
  const buildId = randomBytes(16).toString('hex');
  const abort = new AbortController();
  let session: Awaited<ReturnType<typeof openEngineSession>> | undefined;
  try {
    const context = await listTree({ mirrorDir: opts.mirrorDir, sha: opts.sha, blobs, ...(contextDir ? { subdir: contextDir } : {}) });
    const dockerfileDir = opts.dockerfileContent
      ? [
          {
            path: dockerfileName,
            kind: 'file',
            gitMode: '100644',
            size: Buffer.byteLength(opts.dockerfileContent),
            content: Buffer.from(opts.dockerfileContent),
          } satisfies TreeEntry,
        ]
      : await dockerfileEntries(opts, context, contextDir, dockerfilePath, blobs);
    if (!dockerfileDir.some((e) => e.path === dockerfileName && e.kind !== 'dir')) {
      // Said before the engine says it with a path of its own temp directory.
      const where = [contextDir, dockerfilePath].filter(Boolean).join('/');
      throw new Error(`image build failed: there is no ${where} in commit ${opts.sha.slice(0, 8)} (set build.dockerfile, or use a built-in template)`);
    }
    const sources: Record<string, readonly TreeEntry[]> = { context, dockerfile: dockerfileDir };
    const diffCopy = async (call: GrpcCall): Promise<void> => {
      const name = first(call, 'dir-name') ?? '';
      const entries = sources[name];
      if (!entries) throw new Error(`no local source named ${JSON.stringify(name)} in this session`);
      // followpaths (the Dockerfile, .dockerignore) select entries like include patterns (fsutil).
      const include = [...all(call, 'include-patterns'), ...followPathIncludes(entries, all(call, 'followpaths'))];
      const selected = selectEntries(entries, { include, exclude: all(call, 'exclude-patterns') });
      syncs.push({ source: name, ...(await sendTree(call, selected, blobs)) });
    };
    session = await openEngineSession(engineAddress(docker), {
      name: 'slipway',
      sharedKey: `slipway-${createHash('sha256').update(opts.sharedKey).digest('hex').slice(0, 32)}`,
      handlers: {
        [DIFFCOPY]: diffCopy,
        [HEALTH]: async (call) => call.send(HEALTH_SERVING),
        ...(opts.registryAuth ? { [CREDENTIALS]: credentialsFor(opts.registryAuth) } : {}),
      },
    });
    let imageId = '';
    const onEvent = (e: ProgressEvent & { id?: string }): void => {
      const aux: unknown = (e as { aux?: unknown }).aux;
      if (e.id === 'moby.buildkit.trace' && typeof aux === 'string') log.add(decodeTrace(Buffer.from(aux, 'base64')));
      else if (e.id === 'moby.image.id' && typeof aux === 'object' && aux !== null && typeof (aux as { ID?: unknown }).ID === 'string')
        imageId = (aux as { ID: string }).ID;
      else if (typeof e.stream === 'string' && e.stream.trim() !== '') opts.onLog(e.stream.trimEnd());
    };
    const query = {
      ...toBuildOptions({
        dockerfile: dockerfileName,
        tags: opts.tags,
        labels: opts.labels,
        buildArgs: { BUILDKIT_INLINE_CACHE: '1', ...opts.buildArgs },
        ...(opts.cacheFrom ? { cacheFrom: opts.cacheFrom } : {}),
      }),
      version: '2',
      session: session.id,
      remote: 'client-session',
      buildid: buildId,
      ...(opts.noCache ? { nocache: true } : {}),
    };
    try {
      const stream = await withTimeout(postBuild(docker, query, abort.signal), opts.timeoutMs, 'image build');
      await followProgress(docker, stream, { timeoutMs: Math.max(1, deadline - Date.now()), abort, onEvent });
    } catch (err) {
      abort.abort();
      await cancelBuild(docker, buildId);
      log.end();
      throw new Error(`image build failed: ${log.failedStep ? `step "${log.failedStep}" failed: ` : ''}${dockerMessage(err)}`);
    }
    log.end();
    const [primary, ...rest] = opts.tags;
    if (!imageId && primary) imageId = (await withTimeout(docker.getImage(primary).inspect(), 30_000, 'image inspect')).Id;
    for (const ref of rest) await withTimeout(docker.getImage(imageId).tag(splitTag(ref)), 30_000, `tag ${ref}`);
    return { imageId, cachedSteps: log.cachedSteps, syncs };
  } finally {
    session?.close();
    blobs.close();
  }
}

/** The directory holding the Dockerfile, as its own source (the CLI sends it as "dockerfile"). */
async function dockerfileEntries(
  opts: BuildKitBuildOptions,
  context: readonly TreeEntry[],
  contextDir: string,
  dockerfilePath: string,
  blobs: BlobReader,
): Promise<TreeEntry[]> {
  const dir = posix.dirname(dockerfilePath);
  if (dir === '.') return [...context];
  const subdir = contextDir ? `${contextDir}/${dir}` : dir;
  return listTree({ mirrorDir: opts.mirrorDir, sha: opts.sha, subdir, blobs });
}

function engineAddress(docker: Dockerode): EngineAddress {
  const { socketPath } = docker.modem as { socketPath?: unknown };
  if (typeof socketPath !== 'string') throw new Error('BuildKit builds need the engine on a unix socket (DOCKER_HOST=unix://…)');
  return { socketPath };
}

/**
 * POST /build through the modem, not docker.buildImage(): dockerode opens a session of its own for
 * `version=2` (registry auth only) and puts its id in place of ours, and the engine then finds no
 * file sync in the session ("no local sources enabled").
 */
function postBuild(docker: Dockerode, query: object, signal: AbortSignal): Promise<NodeJS.ReadableStream> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      {
        path: '/build?',
        method: 'POST',
        options: query,
        file: Readable.from([]), // the context comes through the session
        isStream: true,
        abortSignal: signal,
        statusCodes: { 200: true, 400: 'bad parameter', 500: 'server error' },
      },
      (err: unknown, stream: unknown) => (err ? reject(err) : resolve(stream as NodeJS.ReadableStream)),
    );
  });
}

/** Stops the engine's solve too: aborting our request alone may leave it running. */
async function cancelBuild(docker: Dockerode, buildId: string): Promise<void> {
  await new Promise<void>((resolve) => {
    docker.modem.dial({ path: '/build/cancel?', method: 'POST', options: { id: buildId }, statusCodes: { 200: true, 404: true, 500: true } }, () => resolve());
    setTimeout(resolve, 5_000).unref();
  });
}

function normalizeDir(dir: string): string {
  const parts = dir.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..') || dir.startsWith('/') || dir.startsWith('-'))
    throw new Error(`build context ${JSON.stringify(dir)} must be a directory inside the repository`);
  return parts.join('/');
}

const first = (call: GrpcCall, key: string): string | undefined => call.metadata.get(key)?.[0];
const all = (call: GrpcCall, key: string): string[] => [...(call.metadata.get(key) ?? [])];
