import { runGit } from './git.js';

// Read-only questions the fake asks a project's bare repo. Refs and paths come straight from HTTP
// requests, so they are checked here and only ever passed as single argv elements.

export function isSafeRef(ref: string): boolean {
  // A leading '-' would be read as an option; ':' would split "<rev>:<path>"; NUL cannot cross argv.
  return ref.length > 0 && ref.length < 1024 && !ref.startsWith('-') && !ref.includes(':') && !ref.includes('\0');
}

function isSafeRepoPath(path: string): boolean {
  if (path.length === 0 || path.includes('\0') || path.startsWith('/')) return false;
  // "./" and "../" would make git resolve the path relative to a cwd instead of the tree root.
  return path.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

export async function resolveCommit(bareDir: string, ref: string): Promise<string | null> {
  if (!isSafeRef(ref)) return null;
  const r = await runGit(['--git-dir', bareDir, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
  return r.code === 0 ? r.stdout.toString('utf8').trim() : null;
}

// The blob at <sha>:<path>, or null when the ref or the file does not exist (or the path is a tree).
export async function readBlob(bareDir: string, ref: string, path: string): Promise<Buffer | null> {
  if (!isSafeRepoPath(path)) return null;
  const sha = await resolveCommit(bareDir, ref);
  if (!sha) return null;
  const spec = `${sha}:${path}`;
  const type = await runGit(['--git-dir', bareDir, 'cat-file', '-t', spec]);
  if (type.code !== 0 || type.stdout.toString('utf8').trim() !== 'blob') return null;
  const blob = await runGit(['--git-dir', bareDir, 'cat-file', 'blob', spec]);
  return blob.code === 0 ? blob.stdout : null;
}

// First branch containing the commit: what GitLab uses as a status's ref when none is given.
export async function firstBranchContaining(bareDir: string, sha: string): Promise<string | null> {
  const r = await runGit(['--git-dir', bareDir, 'branch', '--format=%(refname:short)', '--contains', sha]);
  if (r.code !== 0) return null;
  const first = r.stdout
    .toString('utf8')
    .split('\n')
    .find((l) => l.trim() !== '');
  return first?.trim() ?? null;
}

export interface BranchHead {
  name: string;
  sha: string;
  parents: string[];
  subject: string;
  body: string;
  authorName: string;
  authorEmail: string;
  authorDate: string;
  committerName: string;
  committerEmail: string;
  committerDate: string;
}

// Every branch with its head commit, sorted by name (GitLab's default order for the branches API).
export async function listBranchHeads(bareDir: string): Promise<BranchHead[]> {
  const fields = [
    '%(refname:short)',
    '%(objectname)',
    '%(parent)',
    '%(authorname)',
    '%(authoremail:trim)',
    '%(authordate:iso-strict)',
    '%(committername)',
    '%(committeremail:trim)',
    '%(committerdate:iso-strict)',
    '%(subject)',
    '%(body)',
  ];
  const r = await runGit(['--git-dir', bareDir, 'for-each-ref', '--sort=refname', `--format=${fields.join('%00')}%1e`, 'refs/heads']);
  if (r.code !== 0) return [];
  return r.stdout
    .toString('utf8')
    .split('\x1e')
    .map((rec) => rec.replace(/^\n/, ''))
    .filter((rec) => rec !== '')
    .map((rec) => {
      const [
        name = '',
        sha = '',
        parents = '',
        authorName = '',
        authorEmail = '',
        authorDate = '',
        committerName = '',
        committerEmail = '',
        committerDate = '',
        subject = '',
        body = '',
      ] = rec.split('\0');
      return {
        name,
        sha,
        parents: parents.split(' ').filter(Boolean),
        subject,
        body: body.trimEnd(),
        authorName,
        authorEmail,
        authorDate,
        committerName,
        committerEmail,
        committerDate,
      };
    });
}

// Entities::Commit as doc/api/commits.md shows it ("Get a single commit"), from the bare repo.
export interface CommitView {
  id: string;
  short_id: string;
  title: string;
  message: string;
  author_name: string;
  author_email: string;
  authored_date: string;
  committer_name: string;
  committer_email: string;
  committed_date: string;
  created_at: string;
  parent_ids: string[];
}

const COMMIT_FIELDS = ['%H', '%P', '%an', '%ae', '%aI', '%cn', '%ce', '%cI', '%s', '%B'];

function commitViews(out: string): CommitView[] {
  return out
    .split('\x1e')
    .map((rec) => rec.replace(/^\n/, ''))
    .filter((rec) => rec !== '')
    .map((rec) => {
      const [id = '', parents = '', an = '', ae = '', ad = '', cn = '', ce = '', cd = '', subject = '', body = ''] = rec.split('\0');
      return {
        id,
        short_id: id.slice(0, 8),
        title: subject,
        message: body,
        author_name: an,
        author_email: ae,
        authored_date: ad,
        committer_name: cn,
        committer_email: ce,
        committed_date: cd,
        created_at: cd,
        parent_ids: parents.split(' ').filter(Boolean),
      };
    });
}

// One commit, or null when the ref names none.
export async function showCommit(bareDir: string, ref: string): Promise<CommitView | null> {
  const sha = await resolveCommit(bareDir, ref);
  if (!sha) return null;
  const r = await runGit(['--git-dir', bareDir, 'show', '-s', `--format=${COMMIT_FIELDS.join('%x00')}%x1e`, sha]);
  return r.code === 0 ? (commitViews(r.stdout.toString('utf8'))[0] ?? null) : null;
}

// The commits of `head` that `base` does not have, newest first (at most `max`); git's `head ^base`.
export async function commitsBetween(bareDir: string, head: string, base: string, max: number): Promise<CommitView[]> {
  const h = await resolveCommit(bareDir, head);
  const b = await resolveCommit(bareDir, base);
  if (!h) return [];
  const args = ['--git-dir', bareDir, 'log', `--max-count=${max}`, `--format=${COMMIT_FIELDS.join('%x00')}%x1e`, h, ...(b ? [`^${b}`] : [])];
  const r = await runGit(args);
  return r.code === 0 ? commitViews(r.stdout.toString('utf8')) : [];
}
