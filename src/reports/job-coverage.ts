import type { PlannedScriptJob } from '../planning/plan.js';
import type { RunStore } from '../runs/run-store.js';
import { coverageRegex, parseCoverage } from './coverage.js';

/**
 * The job's `coverage:` pattern applied to its log (stdout and stderr, every attempt: the last
 * match wins, as in GitLab), line by line from the end. The pattern runs on RE2 (linear time), so a
 * repository's pattern cannot make the worker backtrack over a log. A problem only means "no
 * coverage", never a failed job.
 */
export async function coverageOf(
  store: Pick<RunStore, 'readLog'>,
  runId: string,
  job: Pick<PlannedScriptJob, 'name' | 'coverage'>,
): Promise<{ coverage?: number }> {
  if (job.coverage === undefined) return {};
  try {
    const re = coverageRegex(job.coverage);
    const lines = (await store.readLog(runId)).filter((l) => l.job === job.name && l.stream !== 'system');
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i]?.line.slice(0, 4096) ?? '';
      if (!re.test(line)) continue;
      const value = parseCoverage(line, re);
      return value === undefined ? {} : { coverage: value };
    }
  } catch {
    // Validated at plan time; a plan from an older Slipway may still hold a pattern we cannot run.
  }
  return {};
}
