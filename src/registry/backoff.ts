export interface BackoffPolicy {
  /** Retries after the first attempt (attempts = retries + 1). */
  retries: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { retries: 3, baseMs: 300, maxMs: 5_000 };

/** Exponential with equal jitter: at least half the step, so many workers after one outage spread out. */
export function backoffDelay(retryIndex: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const step = Math.min(policy.maxMs, policy.baseMs * 2 ** retryIndex);
  return step / 2 + random() * (step / 2);
}

/** 408, 429 and 5xx: the registry (or a proxy before it) may answer differently later. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
