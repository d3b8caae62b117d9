import type { JobRecord, RunSummary, SonarRecord, TestSummary } from '../runs/types.js';
import { cell, inline } from './markdown.js';

const ICON: Record<string, string> = {
  success: '✅',
  failed: '❌',
  running: '🔄',
  pending: '⏳',
  skipped: '⏭️',
  canceled: '⏹️',
};

/** Enough failing tests to act on; the run page has the full log. Keeps the note far under GitLab's size limit. */
export const MAX_FAILURES_SHOWN = 10;
const MAX_MESSAGE = 200;

/** Pure: the one merge-request note Slipway keeps per MR, rewritten on every run state change. */
export function runSummaryMarkdown(run: RunSummary, publicUrl: string): string {
  const withTests = run.jobs.some((j) => j.tests);
  const withCoverage = run.jobs.some((j) => j.coverage !== undefined);
  const head = ['job', 'status', ...(withTests ? ['tests'] : []), ...(withCoverage ? ['coverage'] : []), 'detail'];
  const lines = [
    `### Slipway run [${run.id}](${publicUrl}/runs/${run.id}): ${run.status.phase}`,
    '',
    `${run.request.event} of \`${run.request.sha.slice(0, 8)}\` on \`${run.request.ref.replace(/`/g, "'")}\` — ${cell(run.status.reason, 500)}`,
    '',
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...run.jobs.map(
      (j) =>
        `| ${[
          cell(j.name, 100),
          `${ICON[j.status.phase] ?? ''} ${j.status.phase}`,
          ...(withTests ? [j.tests ? testCounts(j.tests) : ''] : []),
          ...(withCoverage ? [j.coverage !== undefined ? `${j.coverage}%` : ''] : []),
          cell(j.status.reason),
        ].join(' | ')} |`,
    ),
  ];
  lines.push(...failingTests(run.jobs));
  if (run.sonar) lines.push('', sonarLine(run.sonar));
  if (run.image) lines.push('', `Image: \`${run.image.ref}\``);
  for (const d of run.deployments) {
    if (d.outcome === 'failed') continue;
    const clusters = d.clusters && d.clusters.length > 1 ? ` (${d.clusters.map((c) => `${c.name}: ${c.state}`).join(', ')})` : '';
    lines.push(d.outcome === 'partial' ? `Partly deployed to **${d.environment}**${clusters}` : `Deployed to **${d.environment}**: ${d.url}${clusters}`);
  }
  return lines.join('\n');
}

function testCounts(t: TestSummary): string {
  const failed = t.failed + t.errors;
  return `${t.passed} passed, ${failed > 0 ? `**${failed} failed**` : '0 failed'}, ${t.skipped} skipped`;
}

/** The first failing tests across jobs (in job order), each with its message, then how many more. */
function failingTests(jobs: readonly JobRecord[]): string[] {
  const all = jobs.flatMap((j) => (j.tests?.failures ?? []).map((f) => ({ job: j.name, ...f })));
  const total = jobs.reduce((n, j) => n + (j.tests ? j.tests.failed + j.tests.errors : 0), 0);
  if (all.length === 0) return [];
  const shown = all.slice(0, MAX_FAILURES_SHOWN);
  const out = ['', `**Failing tests** (${total}):`, ''];
  for (const f of shown) {
    const name = f.suite ? `${f.suite} › ${f.name}` : f.name;
    out.push(`- ${inline(name, 150)} (${inline(f.job, 60)})${f.message ? `: ${inline(f.message, MAX_MESSAGE)}` : ''}`);
  }
  if (total > shown.length) out.push(`- … and ${total - shown.length} more in the run log`);
  return out;
}

function sonarLine(s: SonarRecord): string {
  const icon = s.outcome === 'pass' ? '✅' : s.outcome === 'warn' ? '⚠️' : '❌';
  const what = s.outcome === 'warn' ? ' (advisory: not blocking)' : s.outcome === 'fail' ? ' (required: blocks deploys)' : '';
  // The URL comes from the scanner's report file: link it only when it is plainly http(s).
  const link = /^https?:\/\/[^\s()<>]+$/.test(s.dashboardUrl) ? ` — [SonarQube dashboard](${s.dashboardUrl})` : '';
  return `Quality gate: ${icon} ${s.status}${what}${link}`;
}
