import type { RunRecord } from '../runs/types.js';

const ICON: Record<string, string> = {
  success: '✅', failed: '❌', running: '🔄', pending: '⏳', skipped: '⏭️', canceled: '⏹️',
};

/** Pure: the one merge-request note Slipway keeps per MR, rewritten on every run state change. */
export function runSummaryMarkdown(run: RunRecord, publicUrl: string): string {
  const lines = [
    `### Slipway run [${run.id}](${publicUrl}/runs/${run.id}): ${run.status.phase}`,
    '',
    `${run.request.event} of \`${run.request.sha.slice(0, 8)}\` on \`${run.request.ref.replace(/`/g, "'")}\` — ${run.status.reason}`,
    '',
    '| job | status | detail |',
    '| --- | --- | --- |',
    ...run.jobs.map((j) => `| ${j.name} | ${ICON[j.status.phase] ?? ''} ${j.status.phase} | ${j.status.reason.replace(/\|/g, '\\|').replace(/\n/g, ' ')} |`),
  ];
  if (run.image) lines.push('', `Image: \`${run.image.ref}\``);
  for (const d of run.deployments) lines.push(`Deployed to **${d.environment}**: ${d.url}`);
  return lines.join('\n');
}
