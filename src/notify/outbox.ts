import { createHash, randomUUID } from 'node:crypto';
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { NotifyConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { RunStore } from '../runs/run-store.js';
import type { ChatEvent } from './chat-events.js';
import { chatBody } from './chat-formats.js';
import { backoffMs, sendToChannel } from './chat-sender.js';

/** The run log's pseudo-job for notification outcomes (beside the jobs' own lines). */
export const NOTIFY_LOG_JOB = 'notify';
export const OUTBOX_QUEUE = 'outbox';

/** A chat message or a merge request note is given up this long after it was decided. */
const DEADLINE_MS = 60 * 60 * 1000;
/** A note write goes to GitLab through its client (which retries too): this many queue attempts. */
const NOTE_ATTEMPTS = 8;
const NOTE_BACKOFF_MS = 2_000;
const RETENTION_S = 30 * 24 * 3600;

/** What Slipway has decided to send, kept in Redis until it is sent or given up. */
export type OutboxItem =
  | { kind: 'chat'; channel: string; event: ChatEvent; deadline: string }
  /** Slipway's note on the merge request is written again from Redis (the latest run's summary and the last command answer). */
  | { kind: 'mr-note'; projectId: number; iid: number; deadline: string };

/** A failed attempt the dispatcher may try again, after at least `retryAfterMs`. */
class TryAgain extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
    this.name = 'TryAgain';
  }
}

export interface Outbox {
  /**
   * Keeps a chat message for one channel; resolves once it is in Redis. Its id is the run,
   * channel and event, so the same event is kept (and sent) once.
   */
  chat(channel: { name: string; attempts: number }, event: ChatEvent): Promise<void>;
  /** Keeps a note update for the merge request; resolves once it is in Redis. */
  mergeRequestNote(projectId: number, iid: number): Promise<void>;
  queue: Queue<OutboxItem>;
  close(): Promise<void>;
}

/**
 * The outbox: what Slipway must send (chat webhooks, its merge request note) is a job on the
 * BullMQ queue "outbox" before anything is sent, so a process that stops between deciding and
 * sending loses nothing; the dispatcher (startOutboxDispatcher) sends it, with retries, backoff and
 * a deadline. Delivery is at least once: a process that dies in the middle of a send sends again.
 */
export function createOutbox(connection: ConnectionOptions, prefix: string, onError: (err: Error) => void): Outbox {
  const queue = new Queue<OutboxItem>(OUTBOX_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: { removeOnComplete: { age: RETENTION_S }, removeOnFail: { age: RETENTION_S } },
  });
  queue.on('error', onError);
  const deadline = () => new Date(Date.now() + DEADLINE_MS).toISOString();
  return {
    queue,
    async chat(channel, event) {
      const id = createHash('sha256').update(`${event.runId}\n${channel.name}\n${event.dedupeKey}`).digest('hex').slice(0, 32);
      await queue.add(
        'chat',
        { kind: 'chat', channel: channel.name, event, deadline: deadline() },
        { jobId: `chat.${id}`, attempts: channel.attempts, backoff: { type: 'outbox' } },
      );
    },
    async mergeRequestNote(projectId, iid) {
      await queue.add(
        'mr-note',
        { kind: 'mr-note', projectId, iid, deadline: deadline() },
        { jobId: `note.${projectId}.${iid}.${randomUUID()}`, attempts: NOTE_ATTEMPTS, backoff: { type: 'exponential', delay: NOTE_BACKOFF_MS } },
      );
    },
    close: () => queue.close(),
  };
}

export interface DispatcherDeps {
  connection: ConnectionOptions;
  prefix: string;
  config: NotifyConfig;
  store: RunStore;
  logger: Logger;
  /** Writes Slipway's note on the merge request from Redis (the reporter); throws when GitLab fails. */
  writeNote(projectId: number, iid: number): Promise<void>;
}

/** The worker on queue "outbox". Runs in the planner role. */
export function startOutboxDispatcher(deps: DispatcherDeps): { stop(): Promise<void> } {
  const { config, store, logger } = deps;
  const worker = new Worker<OutboxItem>(OUTBOX_QUEUE, (job) => dispatch(job), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: 4,
    settings: {
      backoffStrategy: (attemptsMade, _type, err) => backoffMs(config.backoffMs, attemptsMade, err instanceof TryAgain ? err.retryAfterMs : undefined),
    },
  });
  worker.on('error', (err) => logger.warn({ err: err.message }, 'outbox error'));

  const dispatch = async (job: Job<OutboxItem>) => {
    const item = job.data;
    const attempt = job.attemptsMade + 1;
    const last = attempt >= (job.opts.attempts ?? 1) || Date.now() >= Date.parse(item.deadline);
    if (item.kind === 'mr-note') {
      try {
        await deps.writeNote(item.projectId, item.iid);
      } catch (err) {
        if (!last) throw err;
        logger.warn({ err, project: item.projectId, mr: item.iid, attempts: attempt }, 'could not write the merge request note; given up');
      }
      return;
    }
    const { event } = item;
    const channel = config.channels.find((c) => c.name === item.channel);
    if (!channel) {
      logger.warn({ run: event.runId, channel: item.channel }, 'notification dropped: the channel is no longer configured');
      return;
    }
    const result = await sendToChannel(channel, chatBody(channel.format, event), { ...config, retries: 0 });
    // The channel by name only: its URL is its token.
    const fields = { run: event.runId, channel: channel.name, format: channel.format, event: event.kind, attempts: attempt };
    if (result.ok) {
      logger.info(fields, 'notification sent');
      await store.appendLog(event.runId, NOTIFY_LOG_JOB, 'system', `notified ${channel.name} (${channel.format}) of ${event.kind} after ${attempt} attempt(s)`);
      return;
    }
    if (result.retryable && !last) throw new TryAgain(result.error, result.retryAfterMs);
    logger.warn({ ...fields, err: result.error }, 'notification failed');
    const why = !result.retryable || attempt >= (job.opts.attempts ?? 1) ? result.error : `${result.error} (deadline passed)`;
    await store.appendLog(
      event.runId,
      NOTIFY_LOG_JOB,
      'system',
      `could not notify ${channel.name} (${channel.format}) of ${event.kind} after ${attempt} attempt(s): ${why}`,
    );
  };

  return { stop: () => worker.close() };
}
