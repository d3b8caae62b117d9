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
