import { createHash } from 'node:crypto';
import { lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { compileGlob, normalizePath } from '../patterns/glob.js';
import type { SafeRegex } from '../patterns/regex.js';
import type { RegistryStore } from './registry-store.js';
import type { StoreIndex } from './store-index.js';

const MAX_ARTIFACT_BYTES = 2 * 1024 ** 3;
const MAX_WALK_ENTRIES = 200_000;

/** Files of the work tree (relative, '/'-separated) that match the globs; symlinks are not followed. */
export async function matchFiles(workdir: string, globs: readonly string[], exclude: readonly string[] = []): Promise<string[]> {
  if (globs.length === 0) return [];
  // A plain directory name ("dist" or "dist/") means everything under it, as in GitLab.
  const include = globs.flatMap((g) => {
    const p = normalizePath(g).replace(/\/+$/, '');
    return [compileGlob(p), compileGlob(`${p}/**`)];
  });
  const skip = exclude.map((g) => compileGlob(normalizePath(g)));
  const out: string[] = [];
  let seen = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (++seen > MAX_WALK_ENTRIES) throw new Error(`more than ${MAX_WALK_ENTRIES} files in the work tree: narrow the artifact paths`);
      const full = join(dir, entry.name);
      const rel = relative(workdir, full).split(sep).join('/');
      if (entry.isDirectory()) await walk(full);
      else if ((entry.isFile() || entry.isSymbolicLink()) && matches(include, rel) && !matches(skip, rel)) out.push(rel);
    }
  };
  await walk(workdir);
  return out.sort();
}

function matches(globs: readonly SafeRegex[], path: string): boolean {
  return globs.some((g) => g.test(path));
}

/** Where a job's artifacts are in the registry: what the run record keeps and later jobs fetch. */
export interface ArtifactsRef {
  /** `registry/repository:tag@digest`, as logs and errors name it. */
  reference: string;
  repository: string;
  tag: string;
  /** Manifest digest (later jobs fetch by it); the tar's own digest is `blobDigest`. */
  digest: string;
  blobDigest: string;
  files: number;
  bytes: number;
  /** When the sweep deletes it (ISO time); absent: kept until deleted by hand (`expire_in: never`). */
  expiresAt?: string;
}

/** The tag of a job's artifacts: one per run and job (job names are free text, so hashed). */
export function artifactsTag(runId: string, jobName: string): string {
  return `run-${runId}-${createHash('sha256').update(jobName).digest('hex').slice(0, 16)}`;
}

/**
 * Tars a finished job's artifact files, pushes the tar to the registry under the run's tag and
 * records when it expires. undefined when no file matched (nothing is stored, as GitLab warns
 * and goes on).
 */
export async function saveArtifacts(
  stores: { store: RegistryStore; index: StoreIndex },
  opts: {
    projectId: number;
    runId: string;
    jobName: string;
    workdir: string;
    paths: readonly string[];
    exclude: readonly string[];
    expireInMs: number | null;
    nowMs: number;
  },
): Promise<ArtifactsRef | undefined> {
  const files = await matchFiles(opts.workdir, opts.paths, opts.exclude);
  if (files.length === 0) return undefined;
  let bytes = 0;
  for (const rel of files) {
    bytes += (await lstat(join(opts.workdir, rel))).size;
    if (bytes > MAX_ARTIFACT_BYTES) throw new Error(`artifacts are larger than ${MAX_ARTIFACT_BYTES} bytes`);
  }
  const { store, index } = stores;
  const blob = await store.local.packFiles(opts.workdir, files);
  const repository = store.repository(opts.projectId, 'artifacts');
  const tag = artifactsTag(opts.runId, opts.jobName);
  const created = new Date(opts.nowMs).toISOString();
  const expiresAt = opts.expireInMs === null ? undefined : new Date(opts.nowMs + opts.expireInMs).toISOString();
  const annotations: Record<string, string> = {
    'org.opencontainers.image.created': created,
    'io.slipway.run': opts.runId,
    'io.slipway.job': opts.jobName,
    ...(expiresAt ? { 'io.slipway.expires': expiresAt } : {}),
  };
  const entry = await store.push('artifacts', repository, tag, blob, {
    config: { runId: opts.runId, job: opts.jobName, files: files.length, bytes, created, ...(expiresAt ? { expiresAt } : {}) },
    annotations,
  });
  if (expiresAt) await index.expireAt(repository, entry.digest, opts.nowMs + (opts.expireInMs ?? 0));
  return {
    reference: store.describe(entry),
    repository,
    tag,
    digest: entry.digest,
    blobDigest: blob.digest,
    files: files.length,
    bytes,
    ...(expiresAt ? { expiresAt } : {}),
  };
}

/** An earlier job's artifacts could not be fetched: the job that needs them must not run without them. */
export class ArtifactsFetchError extends Error {
  override readonly name = 'ArtifactsFetchError';
}

/**
 * Fetches earlier jobs' artifacts into a new job's work tree, in order (later ones win, as in
 * GitLab). A source whose job stored none is passed over; one that was stored but cannot be
 * fetched (expired, deleted, registry down) throws, naming the job, the run, the entry and the
 * registry's answer. Returns the job log lines.
 */
export async function restoreArtifacts(
  store: RegistryStore,
  runId: string,
  sources: ReadonlyArray<{ job: string; artifacts: ArtifactsRef | undefined }>,
  workdir: string,
): Promise<string[]> {
  const lines: string[] = [];
  for (const { job, artifacts } of sources) {
    if (!artifacts) {
      lines.push(`artifacts: job '${job}' stored none`);
      continue;
    }
    let got: Awaited<ReturnType<typeof store.fetch>>;
    try {
      got = await store.fetch('artifacts', artifacts.repository, artifacts.digest);
      await store.local.extractBlob(got.path, workdir);
    } catch (err) {
      throw new ArtifactsFetchError(
        `cannot fetch the artifacts of job '${job}' (run ${runId}) from ${artifacts.reference}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    lines.push(`artifacts of job '${job}': ${artifacts.files} files from ${artifacts.reference}${got.local ? ' (copy on this node)' : ''}`);
  }
  return lines;
}
