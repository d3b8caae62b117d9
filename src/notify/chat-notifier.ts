import type { NotifyConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { RunStore } from '../runs/run-store.js';
import type { ChatEvent } from './chat-events.js';
import { chatBody } from './chat-formats.js';
import { sendToChannel } from './chat-sender.js';

/** The run log's pseudo-job for notification outcomes (beside the jobs' own lines). */
export const NOTIFY_LOG_JOB = 'notify';

export interface ChatNotifier {
  /**
   * Sends the event to every channel that wants it, once per run, channel and event (a repeated
   * call, e.g. a redelivered job, sends nothing). Returns at once: sending happens in the
   * background with its own retries, and its outcome goes to the run log and the logs. It never
   * throws and never fails the pipeline.
   */
  notify(event: ChatEvent): void;
  /** Waits for sends in flight (for shutdown and tests). */
  idle(): Promise<void>;
}

export function createChatNotifier(deps: { config: NotifyConfig; store: RunStore; logger: Logger }): ChatNotifier {
  const { config, store, logger } = deps;
  const inFlight = new Set<Promise<void>>();

  const deliver = async (event: ChatEvent) => {
    for (const channel of config.channels) {
      if (!channel.events.includes(event.kind)) continue;
      if (!(await store.claimOnce(`notify:${event.runId}:${channel.name}:${event.dedupeKey}`))) continue;
      const result = await sendToChannel(channel, chatBody(channel.format, event), config);
      // The channel by name only: its URL is its token.
      const fields = { run: event.runId, channel: channel.name, format: channel.format, event: event.kind, attempts: result.attempts };
      if (result.ok) {
        logger.info(fields, 'notification sent');
        await store.appendLog(
          event.runId,
          NOTIFY_LOG_JOB,
          'system',
          `notified ${channel.name} (${channel.format}) of ${event.kind} after ${result.attempts} attempt(s)`,
        );
      } else {
        logger.warn({ ...fields, err: result.error }, 'notification failed');
        await store.appendLog(
          event.runId,
          NOTIFY_LOG_JOB,
          'system',
          `could not notify ${channel.name} (${channel.format}) of ${event.kind} after ${result.attempts} attempt(s): ${result.error}`,
        );
      }
    }
  };

  return {
    notify(event) {
      if (!config.channels.some((c) => c.events.includes(event.kind))) return;
      const p = deliver(event).catch((err: unknown) => logger.warn({ err, run: event.runId, event: event.kind }, 'notification failed'));
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    },
    async idle() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
  };
}
