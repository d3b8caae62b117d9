import { readFileSync } from 'node:fs';
import path from 'node:path';

// From bench/ under tsx, from dist/bench/ once compiled.
const ROOT = path.resolve(import.meta.dirname, import.meta.dirname.endsWith(`${path.sep}dist${path.sep}bench`) ? '../..' : '..');
const FIXTURE = path.join(ROOT, 'test/fixtures/gitlab/push-hook.json');
/** The webhook secret the benchmark's Slipway is started with. */
export const BENCH_SECRET = 'bench-webhook-secret';
const SHA_MARK = '@@SHA@@';

/**
 * GitLab push bodies of about `targetBytes`, each with a distinct SHA (`after`, `checkout_sha`):
 * GitLab's push-hook fixture, with more commits (GitLab sends up to 20) and longer commit messages
 * until the body reaches the size. Returns the body for the n-th delivery.
 */
export function pushBodies(targetBytes: number, runTag: string): (n: number) => Buffer {
  const base = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown> & { commits: Record<string, unknown>[] };
  const commit = base.commits[0] ?? {};
  base['after'] = SHA_MARK;
  base['checkout_sha'] = SHA_MARK;
  base['ref'] = 'refs/heads/main';
  let text = JSON.stringify(base);
  for (let i = 0; text.length < targetBytes && i < 200; i++) {
    const id = (i + 1).toString(16).padStart(40, 'c');
    const room = targetBytes - text.length;
    const message = `Change ${i}: ${'x'.repeat(Math.max(0, Math.min(1500, room - 400)))}`;
    base.commits.push({ ...commit, id, message, title: message.slice(0, 72), url: `http://example.com/mike/diaspora/commit/${id}` });
    base['total_commits_count'] = base.commits.length;
    text = JSON.stringify(base);
  }
  const [before, middle, after] = text.split(SHA_MARK) as [string, string, string];
  const prefix = runTag.padEnd(16, '0').slice(0, 16);
  return (n) => {
    const sha = prefix + n.toString(16).padStart(24, '0');
    return Buffer.from(before + sha + middle + sha + after);
  };
}
