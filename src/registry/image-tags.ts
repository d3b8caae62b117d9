export interface ImageTagInput {
  sha: string;
  /** Absent for tag pipelines. */
  branch?: string;
  /** Git tags pointing at this commit. */
  gitTags?: readonly string[];
  defaultBranch: string;
  /** Push `latest` for the default branch (off unless configured). */
  latestOnDefault: boolean;
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
// SemVer 2.0.0, with the "v" prefix people put on git tags.
const SEMVER = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$/;

/**
 * The tags one build pushes: the short sha (8, like CI_COMMIT_SHORT_SHA),
 * the branch made into a valid Docker tag, the version of every semver git
 * tag on the commit, and `latest` only on the default branch when enabled.
 * A branch whose tag would pass for one of the others ("latest", a version,
 * a short sha) gets a "branch-" prefix, so a branch never moves a release tag.
 */
export function imageTags(input: ImageTagInput): string[] {
  if (!/^[0-9a-f]{40}$/.test(input.sha)) throw new Error(`not a commit sha: ${JSON.stringify(input.sha)}`);
  const tags = [input.sha.slice(0, 8)];
  if (input.branch !== undefined) {
    const branch = branchTag(input.branch);
    if (branch) tags.push(branch);
  }
  for (const t of input.gitTags ?? []) {
    const v = semverTag(t);
    if (v) tags.push(v);
  }
  if (input.latestOnDefault && input.branch === input.defaultBranch) tags.push('latest');
  return [...new Set(tags)];
}

/** Docker tag rules: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. Other characters become "-". */
export function branchTag(branch: string): string | undefined {
  let tag = branch
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/-{2,}/g, '-')
    .replace(/^[.-]+/, '')
    .replace(/-+$/, '');
  if (!tag) return undefined;
  if (tag === 'latest' || SEMVER.test(tag) || /^[0-9a-f]{7,40}$/.test(tag)) tag = `branch-${tag}`;
  tag = tag.slice(0, 128).replace(/-+$/, '');
  return TAG.test(tag) ? tag : undefined;
}

/** "v1.2.3-rc.1+build.5" → "1.2.3-rc.1-build.5" ("+" is not allowed in a Docker tag). */
export function semverTag(gitTag: string): string | undefined {
  const m = SEMVER.exec(gitTag);
  if (!m) return undefined;
  const tag = gitTag.replace(/^v/, '').replace('+', '-');
  return TAG.test(tag) ? tag : undefined;
}
