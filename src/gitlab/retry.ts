import { AttemptFailure, GitlabApiError } from './errors.js';

export interface RetryPolicy {
  // Retries after the first attempt (so attempts = retries + 1).
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  // A Retry-After longer than this is not slept through: the error goes back, retryable, to the caller.
  maxRetryAfterMs: number;
}

export interface RetryLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
}

export interface CallContext {
  call: string;
  projectId: number;
  // Statuses that mean "try again" for this call only (e.g. 409 on commit statuses: lock held).
  retryableStatuses?: readonly number[];
}

// Retry-After is either delta-seconds or an HTTP date (RFC 9110 §10.2.3).
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null || value.trim() === '') return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(at - now, 0);
}

// Exponential backoff with "equal jitter": at least half the step, so retries never bunch at zero,
// and a random other half, so many workers hitting the same outage spread out.
export function backoffDelay(retryIndex: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retryIndex);
  return step / 2 + random() * (step / 2);
}

export function isRetryableStatus(status: number, extra: readonly number[] = []): boolean {
  return status === 429 || status === 408 || status >= 500 || extra.includes(status);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// Runs `op` until it succeeds, fails with a non-retryable error, or runs out of attempts.
// `op` is a whole operation (it may make several requests), so it must be safe to run again.
export async function withRetry<T>(ctx: CallContext, policy: RetryPolicy, op: () => Promise<T>, logger?: RetryLogger): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await op();
    } catch (err) {
      if (err instanceof GitlabApiError) throw err; // already decided (e.g. invalid response)
      if (!(err instanceof AttemptFailure)) throw err; // a bug, not a GitLab failure: do not mask it
      const retryable = err.kind !== 'http' || isRetryableStatus(err.status ?? 0, ctx.retryableStatuses);
      const wait = Math.max(backoffDelay(attempt - 1, policy), err.retryAfterMs ?? 0);
      const tooLong = err.retryAfterMs !== null && err.retryAfterMs > policy.maxRetryAfterMs;
      if (!retryable || attempt > policy.retries || tooLong) {
        throw new GitlabApiError({
          call: ctx.call,
          projectId: ctx.projectId,
          kind: err.kind,
          status: err.status,
          retryable,
          attempts: attempt,
          detail: err.description,
          ...(err.retryAfterMs !== null ? { retryAfterMs: err.retryAfterMs } : {}),
          cause: err,
        });
      }
      logger?.warn(
        { call: ctx.call, projectId: ctx.projectId, status: err.status, kind: err.kind, attempt, waitMs: Math.round(wait) },
        'gitlab call failed, retrying',
      );
      await sleep(wait);
    }
  }
}
