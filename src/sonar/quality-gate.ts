import type { ReportTask } from './report-task.js';
import { SonarClient, SonarError, type GateCondition, type SonarClientOptions } from './sonar-client.js';

export interface QualityGateResult {
  status: 'OK' | 'WARN' | 'ERROR' | 'NONE';
  conditions: GateCondition[];
  dashboardUrl: string;
  taskId: string;
  analysisId: string;
}

export interface WaitOptions {
  client: Omit<SonarClientOptions, 'url'> & { url?: string };
  /** Give up after this long (the background task can queue behind others). */
  deadlineMs: number;
  /** First poll interval; it doubles up to maxPollMs. */
  pollMs?: number;
  maxPollMs?: number;
  onLog?: (line: string) => void;
}

/**
 * After the scanner: poll api/ce/task until the server has processed the
 * report (SUCCESS, or FAILED/CANCELED → error), then read the gate for
 * exactly that analysis (by analysisId, never "latest for the project",
 * which a concurrent branch analysis could have replaced).
 */
export async function waitForQualityGate(report: ReportTask, opts: WaitOptions): Promise<QualityGateResult> {
  const client = new SonarClient({ ...opts.client, url: opts.client.url ?? report.serverUrl });
  const deadline = Date.now() + opts.deadlineMs;
  let wait = opts.pollMs ?? 1_000;
  let last = '';
  for (;;) {
    const task = await client.ceTask(report.ceTaskId);
    if (task.status !== last) opts.onLog?.(`sonar: analysis task ${task.id} is ${task.status}`);
    last = task.status;
    if (task.status === 'SUCCESS') {
      if (!task.analysisId) throw new SonarError(`sonar: task ${task.id} succeeded without an analysisId`, null, false);
      const gate = await client.projectStatus(task.analysisId);
      return { status: gate.status, conditions: gate.conditions, dashboardUrl: report.dashboardUrl, taskId: task.id, analysisId: task.analysisId };
    }
    if (task.status === 'FAILED' || task.status === 'CANCELED') {
      throw new SonarError(`sonar: analysis task ${task.id} ${task.status}${task.errorMessage ? `: ${task.errorMessage}` : ''}`, null, false);
    }
    if (Date.now() + wait > deadline) {
      throw new SonarError(`sonar: analysis task ${task.id} still ${task.status} after ${opts.deadlineMs} ms; see ${report.dashboardUrl}`, null, true);
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, opts.maxPollMs ?? 10_000);
  }
}

export interface GateVerdict {
  outcome: 'pass' | 'warn' | 'fail';
  reason: string;
}

/** What the pipeline does with a gate: ERROR fails it, unless the gate is advisory (then it warns). */
export function gateVerdict(gate: QualityGateResult, opts: { advisory: boolean }): GateVerdict {
  const failing = gate.conditions.filter((c) => c.status === 'ERROR' || c.status === 'WARN');
  const detail = failing
    .map((c) => `${c.metricKey} ${c.actualValue ?? '?'} (${c.comparator ?? ''} ${c.errorThreshold ?? ''})`.replace(/\s+\)/, ')'))
    .join(', ');
  const why = `quality gate ${gate.status}${detail ? `: ${detail}` : ''} — ${gate.dashboardUrl}`;
  if (gate.status === 'ERROR') return { outcome: opts.advisory ? 'warn' : 'fail', reason: why };
  if (gate.status === 'WARN') return { outcome: 'warn', reason: why };
  if (gate.status === 'NONE') return { outcome: 'warn', reason: `no quality gate for this project — ${gate.dashboardUrl}` };
  return { outcome: 'pass', reason: why };
}
