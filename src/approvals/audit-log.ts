import type { Cluster, Redis } from 'ioredis';
import { z } from 'zod';

export type DecisionSource = 'api' | 'cli' | 'comment' | 'web';

/**
 * One decision, as kept for good: on a gated step (approve, reject), or on an environment (a rollback
 * on demand, resuming automatic deploys; `job` is then `rollback:<env>` / `resume:<env>`, `user.id` null).
 */
export interface AuditEntry {
  /** The stream entry id (milliseconds-sequence): unique and in time order. */
  id: string;
  at: string;
  action: 'approve' | 'reject' | 'rollback' | 'resume';
  /**
   * approved: counted (and `started` says whether the step then ran); refused: not counted; rejected: the step ended;
   * requested: a rollback was queued; resumed: automatic deploys go on.
   */
  outcome: 'approved' | 'refused' | 'rejected' | 'requested' | 'resumed';
  started: boolean;
  /** A GitLab user (id), or who a rollback or resume names (id null: the CLI's --user, else "api"). */
  user: { id: number | null; username: string };
  source: DecisionSource;
  project: { id: number; path: string };
  runId: string;
  job: string;
  service: string | null;
  environment: string | null;
  sha: string;
  /** The image the step would deploy (null: no image in the run). */
  digest: string | null;
  /** The rule in force, in words. */
  rule: string;
  /** Why it was allowed or refused ("@ann is Maintainer (40) of team/shop"). */
  detail: string;
  /** A rejection's reason, as given. */
  reason: string | null;
}

const entrySchema = z.object({
  at: z.string(),
  action: z.enum(['approve', 'reject', 'rollback', 'resume']),
  outcome: z.enum(['approved', 'refused', 'rejected', 'requested', 'resumed']),
  started: z.boolean(),
  user: z.object({ id: z.number().nullable(), username: z.string() }),
  source: z.enum(['api', 'cli', 'comment', 'web']),
  project: z.object({ id: z.number(), path: z.string() }),
  runId: z.string(),
  job: z.string(),
  service: z.string().nullable(),
  environment: z.string().nullable(),
  sha: z.string(),
  digest: z.string().nullable(),
  rule: z.string(),
  detail: z.string(),
  reason: z.string().nullable(),
});

export interface AuditQuery {
  service?: string;
  environment?: string;
  projectId?: number;
  /** Inclusive bounds. */
  since?: Date;
  until?: Date;
  limit: number;
}

const PAGE = 500;

/**
 * The audit log: a Redis stream that is only ever appended to (XADD; never trimmed, never edited),
 * so every decision stays, in order, with its time in its id. Entries are read through their
 * schema; one that does not parse fails the read, naming its id.
 */
export class AuditLog {
  readonly key: string;

  constructor(
    private readonly redis: Redis | Cluster,
    prefix: string,
  ) {
    this.key = `${prefix}:audit`;
  }

  async append(entry: Omit<AuditEntry, 'id'>): Promise<string> {
    const id = await this.redis.xadd(this.key, '*', 'entry', JSON.stringify(entry));
    if (id === null) throw new Error('the audit log refused the entry');
    return id;
  }

  /** Newest first, filtered; scans back page by page until `limit` entries match. */
  async list(q: AuditQuery): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    let end = q.until ? String(q.until.getTime()) : '+';
    const start = q.since ? String(q.since.getTime()) : '-';
    for (;;) {
      const page = await this.redis.xrevrange(this.key, end, start, 'COUNT', PAGE);
      for (const [id, fields] of page) {
        const entry = parse(id, fields);
        if (q.service !== undefined && entry.service !== q.service) continue;
        if (q.environment !== undefined && entry.environment !== q.environment) continue;
        if (q.projectId !== undefined && entry.project.id !== q.projectId) continue;
        out.push(entry);
        if (out.length >= q.limit) return out;
      }
      const last = page.at(-1);
      if (page.length < PAGE || !last) return out;
      end = `(${last[0]}`;
    }
  }
}

function parse(id: string, fields: string[]): AuditEntry {
  const raw = fields[fields.indexOf('entry') + 1];
  let value: unknown;
  try {
    value = JSON.parse(raw ?? '');
  } catch {
    value = undefined;
  }
  const r = entrySchema.safeParse(value);
  if (!r.success) throw new Error(`audit entry ${id} is not readable: ${r.error.issues[0]?.message ?? 'not JSON'}`);
  return { id, ...r.data };
}
