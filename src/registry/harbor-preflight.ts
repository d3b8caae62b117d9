import { HarborClient } from './harbor-client.js';

export interface HarborPreflightOptions {
  url: string;
  username: string;
  password: string;
  /** The image repository as the pipeline names it: "<project>/<name…>" (no registry host, no tag). */
  image: string;
  tags: readonly string[];
  timeoutMs?: number;
  onLog?: (line: string) => void;
}

export type HarborPreflight = { ok: true } | { ok: false; reason: string };

/**
 * What Harbor needs before a push: the project (first path segment) must exist, or the push is
 * refused; and no tag may land on an existing immutable tag. Asked before the build, so a run that
 * could never push does not spend a build first, and a released tag is never overwritten.
 */
export async function harborPreflight(opts: HarborPreflightOptions): Promise<HarborPreflight> {
  const slash = opts.image.indexOf('/');
  if (slash <= 0) return { ok: false, reason: `image ${opts.image} has no Harbor project: name it <project>/<repository>` };
  const project = opts.image.slice(0, slash);
  const repository = opts.image.slice(slash + 1);
  const harbor = new HarborClient({
    url: opts.url,
    auth: { username: opts.username, password: opts.password },
    ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
  });
  const { created } = await harbor.ensureProject(project);
  opts.onLog?.(created ? `Harbor: created project ${project}` : `Harbor: project ${project} exists`);
  const refused: string[] = [];
  for (const tag of opts.tags) {
    const check = await harbor.checkTagWritable({ project, repository, tag });
    if (!check.writable) refused.push(check.reason);
  }
  if (refused.length > 0) return { ok: false, reason: `not pushed: ${refused.join('; ')}` };
  return { ok: true };
}
