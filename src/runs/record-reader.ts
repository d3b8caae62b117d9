import type { z } from 'zod';
import { planSchema } from './plan-schema.js';
import { coreSchema, deploymentsSchema, imageSchema, jobOrderSchema, jobSchema, runStatusSchema, sonarSchema } from './record-schema.js';
import type { RunRecord, RunSummary } from './types.js';

/**
 * A run record whose stored JSON does not match its schema (hand edits, a bug in a writer, a
 * downgrade). Retrying cannot repair it: workers fail the job with this message, the API answers
 * 500 with the run and the field.
 */
export class CorruptRecordError extends Error {
  override readonly name = 'CorruptRecordError';

  constructor(
    readonly runId: string,
    readonly field: string,
    detail: string,
    where = `field "${field}"`,
  ) {
    super(`run ${runId}: ${where} ${detail}`);
  }
}

const MAX_ISSUES = 3;

/**
 * The one place a stored value becomes typed: JSON.parse, then the schema (each value is parsed
 * once per read). `what` names the thing for the message ("a valid plan").
 */
export function readField<S extends z.ZodType>(runId: string, field: string, raw: string, schema: S, what: string, where?: string): z.output<S> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (err) {
    throw new CorruptRecordError(runId, field, `is not valid JSON (${err instanceof Error ? err.message : String(err)})`, where);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new CorruptRecordError(runId, field, `is not ${what}: ${describeIssues(parsed.error.issues, value)}`, where);
  return parsed.data;
}

/** "jobs.unit.stage: expected string, received number; …": array items that have a name are named by it. */
function describeIssues(issues: readonly z.core.$ZodIssue[], root: unknown): string {
  const parts = issues.slice(0, MAX_ISSUES).map((issue) => {
    const message = issue.message.replace(/^Invalid (input|option): /, '').replace(/, received undefined$/, ' (missing)');
    const path = readablePath(issue.path, root);
    return path ? `${path}: ${message}` : message;
  });
  if (issues.length > MAX_ISSUES) parts.push(`and ${issues.length - MAX_ISSUES} more`);
  return parts.join('; ');
}

function readablePath(path: readonly PropertyKey[], root: unknown): string {
  const out: string[] = [];
  let v: unknown = root;
  for (const seg of path) {
    const next = v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
    const name = typeof seg === 'number' && next !== null && typeof next === 'object' ? (next as { name?: unknown }).name : undefined;
    out.push(typeof name === 'string' && name !== '' ? name : String(seg));
    v = next;
  }
  return out.join('.');
}

/** A run hash (HGETALL) → its record; null when the run does not exist. The plan is parsed only when asked for. */
export function runFromHash(id: string, h: Record<string, string>, withPlan: false): RunSummary | null;
export function runFromHash(id: string, h: Record<string, string>, withPlan: true): RunRecord | null;
export function runFromHash(id: string, h: Record<string, string>, withPlan: boolean): RunRecord | RunSummary | null {
  const core = h['core'];
  const status = h['status'];
  if (core === undefined || status === undefined) return null;
  const order = h['jobOrder'];
  const image = h['image'];
  const sonar = h['sonar'];
  const deployments = h['deployments'];
  const summary: RunSummary = {
    ...readField(id, 'core', core, coreSchema, 'a valid run core'),
    status: readField(id, 'status', status, runStatusSchema, 'a valid run status'),
    jobs: (order === undefined ? [] : readField(id, 'jobOrder', order, jobOrderSchema, 'a list of job names')).flatMap((name) => {
      const raw = h[`job:${name}`];
      return raw === undefined ? [] : [readJob(id, name, raw)];
    }),
    image: image === undefined ? undefined : readField(id, 'image', image, imageSchema, 'a valid image record'),
    deployments: deployments === undefined ? [] : readField(id, 'deployments', deployments, deploymentsSchema, 'a valid deployment list'),
    sonar: sonar === undefined ? undefined : readField(id, 'sonar', sonar, sonarSchema, 'a valid SonarQube record'),
  };
  if (!withPlan) return summary;
  const plan = h['plan'];
  return { ...summary, plan: plan === undefined ? undefined : readField(id, 'plan', plan, planSchema, 'a valid plan') };
}

export function readJob(runId: string, name: string, raw: string) {
  return readField(runId, `job:${name}`, raw, jobSchema, 'a valid job record');
}
