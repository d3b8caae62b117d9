const MAX_SCAN = 1024 * 1024;

/**
 * GitLab's `coverage: '/Code coverage: \d+\.\d+/'`: the last match in the
 * job log, its first number as a percentage. The pattern may come with or
 * without the slashes. Only the log's last MiB is scanned, which bounds the
 * cost of a slow user-supplied pattern. undefined when nothing matches.
 */
export function parseCoverage(log: string, pattern: string): number | undefined {
  const source = /^\/(.*)\/$/s.exec(pattern)?.[1] ?? pattern;
  let re: RegExp;
  try {
    re = new RegExp(source, 'gm');
  } catch (err) {
    throw new Error(`invalid coverage pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
  const tail = log.length > MAX_SCAN ? log.slice(-MAX_SCAN) : log;
  let last: string | undefined;
  for (const m of tail.matchAll(re)) {
    if (m[0] === '') continue; // an empty match carries no number
    last = m[1] ?? m[0];
  }
  const num = last === undefined ? undefined : /\d+(?:\.\d+)?/.exec(last)?.[0];
  if (num === undefined) return undefined;
  const value = Number(num);
  return value >= 0 && value <= 100 ? value : undefined;
}
