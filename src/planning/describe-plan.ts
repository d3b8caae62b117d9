import type { Plan } from './plan-types.js';

/** Human-readable plan: one line per job in run order, then the skipped ones with their reason. */
export function describePlan(plan: Plan): string[] {
  const lines = [`${plan.jobs.length} job${plan.jobs.length === 1 ? '' : 's'} would run, in this order:`];
  for (const [i, j] of plan.jobs.entries()) {
    const flags = [
      j.when !== 'on_success' ? `when ${j.when}` : '',
      j.allowFailure !== false ? 'may fail' : '',
      j.kind === 'deploy' && j.approval ? `${j.approval.required} approval(s)` : '',
    ].filter(Boolean);
    lines.push(
      `  ${i + 1}. ${j.name} [${j.kind}, stage ${j.stage}]${j.needs.length > 0 ? ` after ${j.needs.join(', ')}` : ''}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`,
    );
  }
  if (plan.skipped.length > 0) {
    lines.push(`${plan.skipped.length} skipped:`);
    for (const s of plan.skipped) lines.push(`  - ${s.name}: ${s.reason}`);
  }
  return lines;
}
