import type { NotifyChannel } from '../config/config.js';
import { signedDingtalkUrl } from './dingtalk-sign.js';

export interface SendPolicy {
  timeoutMs: number;
  retries: number;
  backoffMs: number;
}

/** A failure says whether trying again later may help, and how long the receiver asked to wait (Retry-After). */
export type SendResult = { ok: true; attempts: number } | { ok: false; attempts: number; error: string; retryable: boolean; retryAfterMs?: number };

const MAX_BACKOFF_MS = 30_000;
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * DingTalk and WeCom answer HTTP 200 with {errcode, errmsg}; errcode 0 is success. These codes mean
 * "too many messages, try later" (DingTalk 130101: 20 per minute per robot; WeCom 45009); any other
 * errcode (bad token, bad signature, keyword missing) will not change on a retry.
 */
const RATE_LIMITED = new Set([130101, 45009]);

class Attempt extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly retryAfterMs: number | undefined = undefined,
  ) {
    super(message);
  }
}

/**
 * Posts one body to one channel: a timeout per attempt, bounded retries with exponential backoff
 * (equal jitter, Retry-After honoured up to a minute) on network errors, timeouts, 408, 429, 5xx
 * and rate-limit errcodes. Never throws; the result says what happened. Error texts never contain
 * the URL (it holds the channel's token).
 */
export async function sendToChannel(
  channel: NotifyChannel,
  body: Record<string, unknown>,
  policy: SendPolicy,
  sleep: (ms: number) => Promise<void> = delay,
): Promise<SendResult> {
  const payload = JSON.stringify(body);
  for (let attempt = 1; ; attempt += 1) {
    try {
      await attemptOnce(channel, payload, policy.timeoutMs);
      return { ok: true, attempts: attempt };
    } catch (err) {
      const a = err instanceof Attempt ? err : new Attempt(String(err), false);
      if (!a.retryable || attempt > policy.retries) {
        return {
          ok: false,
          attempts: attempt,
          error: a.message,
          retryable: a.retryable,
          ...(a.retryAfterMs !== undefined ? { retryAfterMs: a.retryAfterMs } : {}),
        };
      }
      await sleep(backoffMs(policy.backoffMs, attempt, a.retryAfterMs));
    }
  }
}

async function attemptOnce(channel: NotifyChannel, payload: string, timeoutMs: number): Promise<void> {
  // DingTalk's signature carries a timestamp: computed afresh for every attempt.
  const url = channel.format === 'dingtalk' && channel.signSecret ? signedDingtalkUrl(channel.url, channel.signSecret) : channel.url;
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: payload, redirect: 'manual', signal });
    text = (await res.text()).slice(0, 2_000);
  } catch (err) {
    if (signal.aborted) throw new Attempt(`no answer within ${timeoutMs} ms`, true);
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : err instanceof Error ? err.message : String(err);
    throw new Attempt(`network error: ${cause}`, true);
  }
  if (res.status < 200 || res.status >= 300) {
    const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
    const after = Number(res.headers.get('retry-after'));
    throw new Attempt(
      `HTTP ${res.status}${text.trim() ? `: ${text.trim().slice(0, 200)}` : ''}`,
      retryable,
      Number.isFinite(after) && after > 0 ? after * 1000 : undefined,
    );
  }
  if (channel.format === 'dingtalk' || channel.format === 'wecom') {
    let reply: { errcode?: unknown; errmsg?: unknown } = {};
    try {
      reply = JSON.parse(text) as typeof reply;
    } catch {
      throw new Attempt(`answer is not JSON: ${text.slice(0, 200)}`, false);
    }
    if (reply.errcode !== 0) {
      const code = typeof reply.errcode === 'number' ? reply.errcode : NaN;
      throw new Attempt(`errcode ${String(reply.errcode)}: ${String(reply.errmsg ?? '')}`, RATE_LIMITED.has(code));
    }
  }
}

/** Exponential backoff with equal jitter after `attempt` failed attempts, capped; a Retry-After is honoured up to a minute. */
export function backoffMs(baseMs: number, attempt: number, retryAfterMs: number | undefined): number {
  const step = Math.min(MAX_BACKOFF_MS, baseMs * 2 ** (attempt - 1));
  return Math.max(step / 2 + Math.random() * (step / 2), Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
