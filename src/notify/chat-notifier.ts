import type { NotifyConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { ChatEvent } from './chat-events.js';
import type { Outbox } from './outbox.js';

export { NOTIFY_LOG_JOB } from './outbox.js';

export interface ChatNotifier {
  /**
   * Puts the event in the outbox for every channel that wants it, once per run, channel and event
   * (a repeated call, e.g. a redelivered job, adds nothing). Resolves once it is kept in Redis; the
   * outbox's dispatcher sends it with its own retries, and its outcome goes to the run log and the
   * logs. It never throws and never fails the pipeline.
   */
  notify(event: ChatEvent): Promise<void>;
}

export function createChatNotifier(deps: { config: NotifyConfig; outbox: Outbox; logger: Logger }): ChatNotifier {
  const { config, outbox, logger } = deps;
  return {
    async notify(event) {
      for (const channel of config.channels) {
        if (!channel.events.includes(event.kind)) continue;
        try {
          await outbox.chat({ name: channel.name, attempts: config.retries + 1 }, event);
        } catch (err) {
          logger.warn({ err, run: event.runId, channel: channel.name, event: event.kind }, 'could not keep the notification in the outbox');
        }
      }
    },
  };
}
