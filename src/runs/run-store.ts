import type { Cluster, Redis } from 'ioredis';
import type { Plan } from '../planning/plan-types.js';
import type { PipelineRequest, ProjectRef } from '../triggers/types.js';
import { coveringTriggerKeys } from '../triggers/classify.js';
import type { Masker } from '../logging/mask.js';
import { ACCEPT_SCRIPT } from './accept-script.js';
import { LOG_WINDOW_SCRIPT, REWRITE_JOB_SCRIPT, SET_STATUS_SCRIPT } from './index-scripts.js';
import { LuaScript } from './lua-script.js';
import { runKeys, type RunKeys } from './keys.js';
import { newRunId } from './run-id.js';
import { readField, readJob, runFromHash } from './record-reader.js';
import { coreSchema, deploymentsSchema, logLineSchema, type RunCore } from './record-schema.js';
import type {
  DeploymentRecord,
  GitlabDeploymentRecord,
  ImageRecord,
  SonarRecord,
  JobPhase,
  JobRecord,
  LogLine,
  PhaseStatus,
  RunPhase,
  RunRecord,
  RunSummary,
} from './types.js';

const RETENTION_SECONDS = 30 * 24 * 3600;
export const MAX_LOG_LINES = 20_000;
const RUN_PHASES: readonly RunPhase[] = ['received', 'planning', 'running', 'succeeded', 'failed', 'canceled', 'skipped'];

/** Where a page of the pipelines list starts: after this run (its creation time in ms and id), newest first. */
export interface ListCursor {
  score: number;
  id: string;
}

export interface ListQuery {
  projectId?: number;
  ref?: string;
  phase?: RunPhase;
  /** Exclusive: the page starts after this run. */
  after?: ListCursor;
  limit: number;
  /** A run the reader may not see (the UI's access check) is left out and does not count. */
  visible?: (run: RunSummary) => Promise<boolean> | boolean;
  /** At most this many index entries are read for one page (filters may leave it short). Default 1000. */
  maxScan?: number;
}

export interface ListPage {
  runs: RunSummary[];
  /** Where the next page starts; absent: nothing older. */
  next?: ListCursor;
}

/** Log lines from an absolute index: lines before `first` were dropped by the cap. */
export interface LogWindow {
  /** Index of the oldest line still kept. */
  first: number;
  /** Lines appended so far (the index the next line gets). */
  total: number;
  lines: LogLine[];
}

const accept = new LuaScript(ACCEPT_SCRIPT);
const rewriteJobScript = new LuaScript(REWRITE_JOB_SCRIPT);

/** Job fields remembered as last read or written (`seenJobs`): about 1 KB each, oldest dropped first. */
const SEEN_JOBS_MAX = 2000;
/** Writers racing on one job field take turns; after this many lost races the change fails, naming the job. */
const REWRITE_ATTEMPTS = 5;

/** What the reporter needs of a run to report one job: the run's id and request, its deployments, and the job. */
export interface JobView {
  run: Pick<RunSummary, 'id' | 'request' | 'deployments'>;
  job: JobRecord;
}

export interface AcceptResult {
  runId: string;
  created: boolean;
}

/**
 * With replicas (Sentinel, Cluster), an accepted run is acknowledged only once this many replicas
 * have it too (WAIT after the accept script, in one round trip): replication is asynchronous, and a
 * failover promotes a replica, so a run only on the old master would be lost with it.
 * `onShort` hears of a WAIT that timed out with fewer (the run is on the master's disk; it is
 * acknowledged, and the log says a failover now could lose it).
 */
export interface ReplicaWait {
  replicas: number;
  timeoutMs: number;
  onShort(got: number, want: number): void;
}

/**
 * Run records in Redis: the one source for statuses, notes, API and UI. Each writer owns its own
 * hash field (status, jobs, image, deployments), so concurrent workers do not overwrite each other.
 * Every read goes through the schemas (record-reader.ts): a corrupt field throws CorruptRecordError
 * naming the run and the field.
 */
export class RunStore {
  readonly keys: RunKeys;
  /**
   * Each job field as this process last read or wrote it, keyed by run and job: what a change to
   * the job is computed from (rewriteJob). Only a starting point: the write happens only if Redis
   * still holds exactly this value.
   */
  private readonly seenJobs = new Map<string, string>();

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly mask: Masker,
    prefix = 'slipway',
    private readonly replicaWait?: ReplicaWait,
  ) {
    this.keys = runKeys(prefix);
  }

  /**
   * Stores a run for a request (or finds the run that already covers it). The caller queues the
   * planner job itself: runs started by hand, by the reconciler or by a config release.
   */
  async accept(
    request: PipelineRequest,
    deliveryKey: string,
    deliveryId: string,
    now: Date = new Date(),
    opts: { again?: boolean } = {},
  ): Promise<AcceptResult> {
    return this.runAccept(request, deliveryKey, deliveryId, now, false, opts.again === true);
  }

  /**
   * A webhook delivery, in one Redis round trip: stores the run as `accept` does, records that the
   * project sent a webhook, and puts the run on the plan feed, which the planner role moves into
   * the queue (a duplicate still "received" goes on it again: GitLab's resend of a delivery whose
   * queueing was lost). Resolves once Redis has it (with `appendfsync always`, on disk).
   */
  async acceptDelivery(request: PipelineRequest, deliveryKey: string, deliveryId: string, now: Date = new Date()): Promise<AcceptResult> {
    return this.runAccept(request, deliveryKey, deliveryId, now, true, false);
  }

  private async runAccept(
    request: PipelineRequest,
    deliveryKey: string,
    deliveryId: string,
    now: Date,
    webhook: boolean,
    again: boolean,
  ): Promise<AcceptResult> {
    const id = newRunId(now.getTime());
    const core: RunCore = { id, request, deliveryId, createdAt: now.toISOString() };
    const status: PhaseStatus<RunPhase> = { phase: 'received', reason: 'waiting for the planner', at: now.toISOString() };
    const k = this.keys;
    // A run started by hand is a new pipeline every time (GitLab's "Run pipeline"), and a later
    // webhook for the same commit still makes its own: its trigger key is its own run's.
    // A config release too (each config revision is its own release), and a retry from the web UI,
    // which repeats a webhook's request on purpose: each is a new pipeline.
    const fresh = request.event === 'manual' || request.event === 'config' || again;
    const triggerKeys = fresh ? [k.trigger(`manual:${id}`)] : coveringTriggerKeys(request).map((key) => k.trigger(key));
    const projectId = request.project.id;
    const keys = [
      k.delivery(deliveryKey),
      k.run(id),
      k.received,
      k.allRuns,
      k.projectRuns(projectId),
      k.refRuns(projectId, request.ref),
      k.phaseRuns('received'),
      k.planFeed,
      k.knownProjects,
      k.projectWatch(projectId),
      ...triggerKeys,
    ];
    const argv = [
      id,
      now.getTime(),
      RETENTION_SECONDS,
      JSON.stringify(core),
      JSON.stringify(status),
      webhook ? '1' : '0',
      webhook ? watchRef(request.project) : '',
      projectId,
    ];
    const reply = (this.replicaWait ? await this.acceptReplicated(keys, argv, this.replicaWait) : await accept.run(this.redis, keys, argv)) as [number, string];
    return { runId: reply[1], created: reply[0] === 1 };
  }

  /** The accept script and WAIT in one pipeline: on a Cluster both go to the node holding the run's slot. */
  private async acceptReplicated(keys: readonly string[], argv: readonly (string | number)[], wait: ReplicaWait): Promise<unknown> {
    const results = await this.redis
      .pipeline()
      .eval(ACCEPT_SCRIPT, keys.length, ...keys, ...argv)
      .wait(wait.replicas, wait.timeoutMs)
      .exec();
    const [accepted, waited] = results ?? [];
    if (!accepted || accepted[0]) throw accepted?.[0] ?? new Error('redis answered no result for the accept script');
    if (!waited || waited[0]) throw waited?.[0] ?? new Error('redis answered no result for WAIT');
    const got = Number(waited[1]);
    if (got < wait.replicas) wait.onShort(got, wait.replicas);
    return accepted[1];
  }

  async get(id: string): Promise<RunRecord | null> {
    const h = await this.redis.hgetall(this.keys.run(id));
    const run = runFromHash(id, h, true);
    // Every job field just parsed is the starting point of this process's next change to that job.
    if (run) for (const j of run.jobs) this.rememberJob(id, j.name, h[`job:${j.name}`]);
    return run;
  }

  /**
   * One job with what reporting it needs of its run (request, deployments), in one small read
   * (HMGET): not the whole record with its plan. Null when the run or the job does not exist.
   */
  async jobView(id: string, name: string): Promise<JobView | null> {
    const [core, raw, deployments] = await this.redis.hmget(this.keys.run(id), 'core', `job:${name}`, 'deployments');
    if (core == null || raw == null) return null;
    const job = readJob(id, name, raw);
    this.rememberJob(id, name, raw);
    const { request } = readField(id, 'core', core, coreSchema, 'a valid run core');
    return {
      run: { id, request, deployments: deployments == null ? [] : readField(id, 'deployments', deployments, deploymentsSchema, 'a valid deployment list') },
      job,
    };
  }

  /** The run without its plan, which is then not parsed: for readers that never look at it. */
  async summary(id: string): Promise<RunSummary | null> {
    return runFromHash(id, await this.redis.hgetall(this.keys.run(id)), false);
  }

  /** Newest first; without plans (not parsed at all). */
  async list(opts: { projectId?: number; limit?: number } = {}): Promise<RunSummary[]> {
    const key = opts.projectId === undefined ? this.keys.allRuns : this.keys.projectRuns(opts.projectId);
    const ids = await this.redis.zrevrange(key, 0, (opts.limit ?? 50) - 1);
    const runs = await Promise.all(ids.map((id) => this.summary(id)));
    return runs.filter((r): r is RunSummary => r !== null);
  }

  /**
   * One page of runs, newest first, filtered by project, ref and phase. Reads the narrowest index
   * (phase, else the project's ref, else the project, else all) and filters the rest in memory, at
   * most `maxScan` entries per page; the cursor is the last run read, so pages stay stable while
   * new runs arrive. Entries whose run expired are removed from the index on the way.
   */
  async listPage(q: ListQuery): Promise<ListPage> {
    const k = this.keys;
    const key =
      q.phase !== undefined
        ? k.phaseRuns(q.phase)
        : q.projectId !== undefined && q.ref !== undefined
          ? k.refRuns(q.projectId, q.ref)
          : q.projectId !== undefined
            ? k.projectRuns(q.projectId)
            : k.allRuns;
    const maxScan = q.maxScan ?? 1000;
    const runs: RunSummary[] = [];
    let cursor = q.after;
    let scanned = 0;
    const batch = Math.min(200, Math.max(q.limit * 2, 20));
    while (runs.length < q.limit && scanned < maxScan) {
      const max = cursor ? String(cursor.score) : '+inf';
      // Runs created in the same millisecond as the cursor come in descending id order: skip those already shown.
      const raw = await this.redis.zrevrangebyscore(key, max, '-inf', 'WITHSCORES', 'LIMIT', 0, batch + 50);
      const entries: ListCursor[] = [];
      for (let i = 0; i < raw.length; i += 2) entries.push({ id: raw[i] ?? '', score: Number(raw[i + 1]) });
      const fresh = entries.filter((e) => !cursor || e.score < cursor.score || e.id < cursor.id).slice(0, batch);
      if (fresh.length === 0) return { runs };
      for (const e of fresh) {
        scanned += 1;
        cursor = e;
        const run = await this.summary(e.id);
        if (!run) {
          await this.redis.zrem(key, e.id);
          continue;
        }
        if (q.projectId !== undefined && run.request.project.id !== q.projectId) continue;
        if (q.ref !== undefined && run.request.ref !== q.ref) continue;
        if (q.phase !== undefined && run.status.phase !== q.phase) continue;
        if (q.visible && !(await q.visible(run))) continue;
        runs.push(run);
        if (runs.length >= q.limit || scanned >= maxScan) break;
      }
    }
    // One more entry after the cursor means there is an older page.
    const more = cursor ? await this.redis.zrevrangebyscore(key, String(cursor.score), '-inf', 'WITHSCORES', 'LIMIT', 0, 1 + 50) : [];
    const hasMore = cursor !== undefined && more.some((v, i) => i % 2 === 0 && (Number(more[i + 1]) < cursor.score || v < cursor.id));
    return hasMore && cursor ? { runs, next: cursor } : { runs };
  }

  async setStatus(id: string, phase: RunPhase, reason: string): Promise<void> {
    const status: PhaseStatus<RunPhase> = { phase, reason: this.mask(reason), at: new Date().toISOString() };
    const k = this.keys;
    // The status and the phase index change together (one script), so the list's phase filter never misses a run.
    const others = RUN_PHASES.filter((p) => p !== phase).map((p) => k.phaseRuns(p));
    // Leaving "received" (the planner's pick-up index) in the same script: one round trip per change.
    await this.redis.eval(
      SET_STATUS_SCRIPT,
      3 + others.length + 1,
      k.allRuns,
      k.run(id),
      k.received,
      ...others,
      k.phaseRuns(phase),
      id,
      JSON.stringify(status),
      phase === 'received' ? '0' : '1',
    );
  }

  async setPlan(id: string, plan: Plan, jobs: JobRecord[]): Promise<void> {
    const fields = jobs.map((j) => ({ name: j.name, raw: JSON.stringify(j) }));
    await this.redis.hset(
      this.keys.run(id),
      'plan',
      JSON.stringify(plan),
      'jobOrder',
      JSON.stringify(jobs.map((j) => j.name)),
      ...fields.flatMap((f) => [`job:${f.name}`, f.raw]),
    );
    for (const f of fields) this.rememberJob(id, f.name, f.raw);
  }

  /**
   * Each job is its own hash field, so jobs of one run running in parallel never overwrite each
   * other; one job is only ever handled by one worker at a time. One round trip when this process
   * last read or wrote the job (rewriteJob).
   */
  async updateJob(
    id: string,
    name: string,
    phase: JobPhase,
    reason: string,
    extra: Partial<Omit<JobRecord, 'name' | 'kind' | 'stage' | 'status'>> = {},
  ): Promise<JobRecord | undefined> {
    const active = phase === 'running' || phase === 'pending' || phase === 'queued' || phase === 'manual';
    const masked = this.mask(reason);
    return this.rewriteJob(id, name, (j) => {
      const now = new Date().toISOString();
      const updated: JobRecord = {
        ...j,
        ...extra,
        status: { phase, reason: masked, at: now },
        startedAt: phase === 'running' ? (j.status.phase === 'running' ? j.startedAt : now) : j.startedAt,
        finishedAt: active ? undefined : now,
      };
      // A manual job that moves on no longer waits for an approval.
      return { updated, leavesApprovals: j.status.phase === 'manual' && phase !== 'manual' };
    });
  }

  /**
   * A retried job starts over: pending with `reason`, without the last attempt's outcome (exit
   * code, times, allowed failure, superseding run, GitLab deployment: a retried deploy is a new one).
   */
  async resetJob(id: string, name: string, reason: string): Promise<JobRecord | undefined> {
    const masked = this.mask(reason);
    return this.rewriteJob(id, name, (j) => ({
      updated: {
        name: j.name,
        kind: j.kind,
        stage: j.stage,
        status: { phase: 'pending', reason: masked, at: new Date().toISOString() },
        startedAt: undefined,
        finishedAt: undefined,
        exitCode: undefined,
      },
      leavesApprovals: false,
    }));
  }

  /** Only this field of the job changes (its phase, reason and times stay as they are). */
  async setGitlabDeployment(id: string, name: string, d: GitlabDeploymentRecord): Promise<void> {
    await this.rewriteJob(id, name, (j) => ({ updated: { ...j, gitlabDeployment: d }, leavesApprovals: false }));
  }

  /**
   * Read-modify-write of one job field as a compare-and-set script (REWRITE_JOB_SCRIPT): the new
   * record is computed here from the field as this process last saw it, and written only if Redis
   * still holds exactly that; otherwise the script answers the current value and the change is
   * computed again from it. So a phase change is one round trip when nothing else wrote the job
   * since (the common case: the scheduler and the worker of one process), and two, as a read and a
   * write always were, when this process has not seen the field yet.
   */
  private async rewriteJob(
    id: string,
    name: string,
    change: (j: JobRecord) => { updated: JobRecord; leavesApprovals: boolean },
  ): Promise<JobRecord | undefined> {
    const key = this.keys.run(id);
    const field = `job:${name}`;
    let raw = this.seenJobs.get(seenKey(id, name)) ?? (await this.redis.hget(key, field));
    if (raw === null) return undefined;
    for (let attempt = 1; ; attempt += 1) {
      const { updated, leavesApprovals } = change(readJob(id, name, raw));
      const text = JSON.stringify(updated);
      const reply = (await rewriteJobScript.run(
        this.redis,
        [key, this.keys.approvalsWaiting],
        [field, raw, text, leavesApprovals ? '1' : '0', `${id}:${name}`],
      )) as [number, string?];
      if (reply[0] === 1) {
        this.rememberJob(id, name, text);
        return updated;
      }
      if (reply[0] === -1 || reply[1] === undefined) {
        this.seenJobs.delete(seenKey(id, name));
        return undefined;
      }
      raw = reply[1];
      this.rememberJob(id, name, raw);
      if (attempt >= REWRITE_ATTEMPTS) {
        throw new Error(`job ${name} of run ${id} was changed by another writer during each of ${REWRITE_ATTEMPTS} attempts to update it`);
      }
    }
  }

  /** The job's field as this process last read or wrote it (a map in insertion order: the oldest entry goes first). */
  private rememberJob(id: string, name: string, raw: string | undefined): void {
    if (raw === undefined) return;
    const k = seenKey(id, name);
    this.seenJobs.delete(k);
    this.seenJobs.set(k, raw);
    if (this.seenJobs.size > SEEN_JOBS_MAX) {
      const oldest = this.seenJobs.keys().next();
      if (!oldest.done) this.seenJobs.delete(oldest.value);
    }
  }

  async getJob(id: string, name: string): Promise<JobRecord | undefined> {
    const raw = await this.redis.hget(this.keys.run(id), `job:${name}`);
    if (!raw) return undefined;
    const job = readJob(id, name, raw);
    this.rememberJob(id, name, raw);
    return job;
  }

  async setImage(id: string, image: ImageRecord): Promise<void> {
    await this.redis.hset(this.keys.run(id), 'image', JSON.stringify(image));
  }

  async setSonar(id: string, sonar: SonarRecord): Promise<void> {
    await this.redis.hset(this.keys.run(id), 'sonar', JSON.stringify(sonar));
  }

  async addDeployment(id: string, d: DeploymentRecord): Promise<void> {
    const key = this.keys.run(id);
    const raw = await this.redis.hget(key, 'deployments');
    const list = (raw ? readField(id, 'deployments', raw, deploymentsSchema, 'a valid deployment list') : []).filter((x) => x.environment !== d.environment);
    await this.redis.hset(key, 'deployments', JSON.stringify([...list, d]));
  }

  async appendLog(id: string, job: string, stream: LogLine['stream'], line: string): Promise<void> {
    const entry: LogLine = { t: new Date().toISOString(), job, stream, line: this.mask(line) };
    const key = this.keys.log(id);
    const count = this.keys.logCount(id);
    await this.redis
      .multi()
      .rpush(key, JSON.stringify(entry))
      .ltrim(key, -MAX_LOG_LINES, -1)
      .incr(count)
      .expire(key, RETENTION_SECONDS)
      .expire(count, RETENTION_SECONDS)
      .exec();
  }

  /**
   * Up to `max` lines from absolute index `from` (line n is the n-th line ever appended, whatever
   * the cap dropped since): what the live log stream resumes from. Read in one script, so `first`
   * and the lines agree.
   */
  async readLogWindow(id: string, from: number, max: number): Promise<LogWindow> {
    const [first, total, raw] = (await this.redis.eval(LOG_WINDOW_SCRIPT, 2, this.keys.log(id), this.keys.logCount(id), from, max)) as [
      number,
      number,
      string[],
    ];
    const start = Math.max(from, first);
    return { first, total, lines: raw.map((r, i) => readField(id, 'log', r, logLineSchema, 'a valid log line', `log line ${start + i}`)) };
  }

  async readLog(id: string, from = 0): Promise<LogLine[]> {
    const raw = await this.redis.lrange(this.keys.log(id), from, -1);
    return raw.map((r, i) => readField(id, 'log', r, logLineSchema, 'a valid log line', `log line ${from + i}`));
  }

  /** Called by the scheduler when a deploy job starts waiting for its approval. */
  async awaitingApproval(id: string, name: string): Promise<void> {
    await this.redis.zadd(this.keys.approvalsWaiting, 'NX', Date.now(), `${id}:${name}`);
  }

  /** Deploy jobs waiting for an approval; entries older than the records' retention went with their runs. */
  async approvalsWaiting(): Promise<number> {
    const key = this.keys.approvalsWaiting;
    const [, count] = await Promise.all([this.redis.zremrangebyscore(key, 0, Date.now() - RETENTION_SECONDS * 1000), this.redis.zcard(key)]);
    return count;
  }

  /** The deploy jobs waiting for an approval, oldest first (at most `limit`): the approvals inbox reads them. */
  async waitingApprovals(limit = 200): Promise<Array<{ runId: string; job: string; since: number }>> {
    const raw = await this.redis.zrange(this.keys.approvalsWaiting, 0, limit - 1, 'WITHSCORES');
    const out: Array<{ runId: string; job: string; since: number }> = [];
    for (let i = 0; i < raw.length; i += 2) {
      const member = raw[i] ?? '';
      // Run ids have no ':' (run-id.ts); job names may.
      const at = member.indexOf(':');
      if (at > 0) out.push({ runId: member.slice(0, at), job: member.slice(at + 1), since: Number(raw[i + 1]) });
    }
    return out;
  }

  /** True the first time a key is claimed (within the records' retention), false ever after: for side effects done once. */
  async claimOnce(key: string): Promise<boolean> {
    return (await this.redis.set(this.keys.once(key), '1', 'EX', RETENTION_SECONDS, 'NX')) === 'OK';
  }

  /** The answer to the last merge-request comment command (shown in the MR note until the next one). */
  async setMrCommandAnswer(projectId: number, iid: number, line: string): Promise<void> {
    await this.redis.set(this.keys.mrCommand(projectId, iid), this.mask(line), 'EX', RETENTION_SECONDS);
  }

  async mrCommandAnswer(projectId: number, iid: number): Promise<string | null> {
    return this.redis.get(this.keys.mrCommand(projectId, iid));
  }

  /** The newest run of a merge request (its own pipelines and its merge's), among the project's latest 500. */
  async latestOfMergeRequest(projectId: number, iid: number): Promise<RunSummary | null> {
    const ids = await this.redis.zrevrange(this.keys.projectRuns(projectId), 0, 499);
    for (const id of ids) {
      const run = await this.summary(id);
      if (run?.request.mergeRequest?.iid === iid) return run;
    }
    return null;
  }

  /** Runs accepted more than `olderThanMs` ago that no planner has picked up (a crash between accept and enqueue). */
  async staleReceived(olderThanMs: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.received, 0, Date.now() - olderThanMs);
  }
}

/** Run ids have no NUL (run-id.ts), so the key cannot be one of another run's jobs. */
function seenKey(id: string, name: string): string {
  return `${id}\u0000${name}`;
}

/** What the project's watch hash keeps of the project (as ProjectWatch.webhookSeen writes it). */
function watchRef(ref: ProjectRef): string {
  return JSON.stringify({ id: ref.id, path: ref.path, defaultBranch: ref.defaultBranch, ...(ref.webUrl ? { webUrl: ref.webUrl } : {}) });
}
