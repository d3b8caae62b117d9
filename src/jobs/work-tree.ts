import path from 'node:path';
import { rm } from 'node:fs/promises';
import type { JobContext } from './context.js';
import type { RunRecord } from '../runs/types.js';
import { exportTree, forgetVerified, syncMirror } from '../git/git-mirror.js';
import type { GitHttpAuth } from '../git/git-exec.js';
import { listFilesAt, readFileAt } from '../git/git-export.js';

/**
 * A sha this process found in the mirror this long ago is not looked for again by the next job's
 * work tree (one git process fewer per job; docs/benchmarks.md): the pipeline's jobs all need it.
 */
const RECALL_MIRROR_CHECK_MS = 30_000;

/** Syncs the project's mirror (fetch, never a fresh clone) and returns its directory. */
export async function mirrorFor(ctx: JobContext, run: RunRecord): Promise<string> {
  return (await syncedMirror(ctx, run, false)).dir;
}

async function syncedMirror(ctx: JobContext, run: RunRecord, recall: boolean): Promise<{ dir: string; recalled: boolean }> {
  const { project, sha } = run.request;
  const mirror = await syncMirror({
    ...mirrorSource(ctx, project.path),
    sha,
    ref: refOf(run.request),
    timeoutMs: 10 * 60_000,
    ...(recall ? { recallWithinMs: RECALL_MIRROR_CHECK_MS } : {}),
  });
  await ctx.affinity?.recordHolder(project.id);
  if (mirror.cloned || mirror.fetched) {
    await ctx.store.appendLog(run.id, 'git', 'system', `${mirror.cloned ? 'cloned' : 'fetched'} ${project.path} for ${sha.slice(0, 8)}`);
  }
  return { dir: mirror.dir, recalled: mirror.recalled === true };
}

/** Where a project's mirror lives and fetches from (never a URL taken from the payload). */
export function mirrorSource(ctx: Pick<JobContext, 'config'>, projectPath: string): { root: string; project: string; cloneUrl: string; auth: GitHttpAuth } {
  return {
    root: path.join(ctx.config.workspaceDir, 'mirrors'),
    project: projectPath,
    cloneUrl: `${ctx.config.gitBaseUrl}/${projectPath}.git`,
    // GitLab takes a token as the password of HTTP basic auth; oauth2 as the user name suits every
    // kind of token. Sent in a header through git's environment, never in argv or the URL.
    auth: { username: 'oauth2', password: ctx.config.gitlab.token },
  };
}

/** A fresh work tree at the run's SHA, for one job. */
export async function prepareWorkTree(ctx: JobContext, run: RunRecord, workdir: string): Promise<void> {
  const { sha } = run.request;
  const mirror = await syncedMirror(ctx, run, true);
  try {
    await rm(workdir, { recursive: true, force: true });
    await exportTree({ mirrorDir: mirror.dir, sha, dest: workdir });
  } catch (err) {
    if (!mirror.recalled) throw err;
    // Found there moments ago, yet unreadable now: look at the mirror again (a broken one is cloned
    // anew, a lost commit fetched), as a sync without the recall would have, and export once more.
    forgetVerified(mirror.dir, sha);
    const checked = await syncedMirror(ctx, run, false);
    await rm(workdir, { recursive: true, force: true });
    await exportTree({ mirrorDir: checked.dir, sha, dest: workdir });
  }
}

/** The ref the commit arrived on: only that ref is fetched into the mirror. */
export function refOf(req: RunRecord['request']): string {
  if (req.event === 'tag') return `refs/tags/${req.ref}`;
  if (req.mergeRequest?.fork) return `refs/merge-requests/${req.mergeRequest.iid}/head`;
  return `refs/heads/${req.ref}`;
}

/** The files directly in a repository directory at the run's SHA (name → text), or null when it does not exist. */
export async function readDirAt(
  ctx: JobContext,
  run: RunRecord,
  dir: string,
  accept: (name: string) => boolean,
): Promise<{ name: string; text: string }[] | null> {
  const mirrorDir = await mirrorFor(ctx, run);
  const names = await listFilesAt(mirrorDir, run.request.sha, dir);
  if (names === null) return null;
  const clean = dir.replace(/\/+$/, '');
  const files: { name: string; text: string }[] = [];
  for (const name of names.filter(accept).sort()) {
    const text = await readFileAt(mirrorDir, run.request.sha, `${clean}/${name}`);
    if (text !== null) files.push({ name: `${clean}/${name}`, text });
  }
  return files;
}
