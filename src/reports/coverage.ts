import { compileRegex, type SafeRegex } from '../patterns/regex.js';

const MAX_SCAN = 1024 * 1024;

/**
 * GitLab's `coverage: '/Code coverage: \d+\.\d+/'`: the last match in the
 * job log, its first number as a percentage. The pattern may come with or
 * without the slashes, and runs on RE2 (linear time, GitLab's syntax), so a
 * repository's pattern cannot make the worker backtrack over a log. Only the
 * log's last MiB is scanned. undefined when nothing matches.
 */
export function parseCoverage(log: string, pattern: string | SafeRegex): number | undefined {
  const re = typeof pattern === 'string' ? coverageRegex(pattern) : pattern;
  const tail = log.length > MAX_SCAN ? log.slice(-MAX_SCAN) : log;
  let last: string | undefined;
  for (const m of re.matchAll(tail)) {
    if (m[0] === '') continue; // an empty match carries no number
    last = m[1] ?? m[0];
  }
  const num = last === undefined ? undefined : /\d+(?:\.\d+)?/.exec(last)?.[0];
  if (num === undefined) return undefined;
  const value = Number(num);
  return value >= 0 && value <= 100 ? value : undefined;
}

/** The coverage pattern, with or without its slashes; `^` and `$` match at line ends, as before. */
export function coverageRegex(pattern: string): SafeRegex {
  const source = /^\/(.*)\/$/s.exec(pattern)?.[1] ?? pattern;
  try {
    return compileRegex(source, 'm');
  } catch (err) {
    throw new Error(`invalid coverage pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
}
