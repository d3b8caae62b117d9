import type Dockerode from 'dockerode';

/** One JSON message of the engine's build/pull/push progress stream (only the fields we read). */
export interface ProgressEvent {
  stream?: string;
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { ID?: string; Digest?: string; Tag?: string };
}

/**
 * Follows a progress stream to its end. The engine reports failures inside
 * the stream with HTTP 200, so an `error` message is turned into a rejection
 * here; `describe` lets callers add context (e.g. the failing build step).
 * Bounded by `timeoutMs`: on expiry the request is aborted via `abort`.
 */
export function followProgress(
  docker: Dockerode,
  stream: NodeJS.ReadableStream,
  opts: {
    timeoutMs: number;
    abort: AbortController;
    onEvent?: (event: ProgressEvent) => void;
    describe?: (message: string) => string;
  },
): Promise<ProgressEvent[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      opts.abort.abort();
      reject(new Error(`timed out after ${opts.timeoutMs}ms`));
    }, opts.timeoutMs);
    docker.modem.followProgress(
      stream,
      (err: Error | null, events: ProgressEvent[]) => {
        clearTimeout(timer);
        if (err) return reject(err);
        const failed = events.find((e) => e.error !== undefined || e.errorDetail?.message !== undefined);
        if (failed) {
          const message = failed.errorDetail?.message ?? failed.error ?? 'unknown error';
          return reject(new Error(opts.describe ? opts.describe(message) : message));
        }
        resolve(events);
      },
      (event: ProgressEvent) => opts.onEvent?.(event),
    );
  });
}
