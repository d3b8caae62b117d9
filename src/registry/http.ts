import { Authorizer, type Credentials } from './auth.js';
import { backoffDelay, DEFAULT_BACKOFF, isRetryableStatus, sleep, type BackoffPolicy } from './backoff.js';
import { describeErrorBody, RegistryError } from './errors.js';

export interface RegistryHttpOptions {
  /** host[:port] as in an image name. */
  registry: string;
  auth?: Credentials;
  /** Per attempt, for everything but blob bodies. Default 30 s. */
  timeoutMs?: number;
  /** Per attempt for blob GET and upload PUT, which move whole layers. Default 10 min. */
  blobTimeoutMs?: number;
  backoff?: BackoffPolicy;
  /** Overrides the scheme choice (https, plain http on loopback), e.g. "http://10.0.0.5:5000". */
  baseUrl?: string;
  /** Ends every request (and stops retrying) once aborted: an operation's overall deadline. */
  signal?: AbortSignal;
}

export interface RegistryRequest {
  /** What the error says, e.g. "PUT manifest app:1.0". */
  call: string;
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  /** A path on the registry ("/v2/…") or an absolute URL (upload Location). */
  target: string;
  /** Token scopes this request needs (Bearer auth). */
  scopes: readonly string[];
  headers?: Record<string, string>;
  /** Replayable bodies only; a streamed body goes with retry: false. */
  body?: Buffer | ReadableStream<Uint8Array>;
  /** Statuses handed back to the caller instead of thrown (e.g. 404 on a HEAD check). */
  expect: readonly number[];
  blob?: boolean;
  /** false for non-replayable bodies; whole-operation retries live with the caller then. */
  retry?: boolean;
}

/** Loopback registries are plain http (test and embedded setups); anything else must be https. */
export function registryBaseUrl(registry: string): string {
  const host = registry.replace(/:\d+$/, '');
  const plain = host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
  return `${plain ? 'http' : 'https'}://${registry}`;
}

/**
 * One registry endpoint: timeouts per attempt, bounded retries with backoff
 * on 5xx/408/429 and network errors, auth challenges answered once per call.
 * The response comes back unread; every error names the call and registry.
 */
export class RegistryHttp {
  readonly registry: string;
  readonly baseUrl: string;
  private readonly authorizer: Authorizer;
  private readonly timeoutMs: number;
  private readonly blobTimeoutMs: number;
  private readonly backoff: BackoffPolicy;
  private readonly signal: AbortSignal | undefined;

  constructor(opts: RegistryHttpOptions) {
    this.registry = opts.registry;
    this.baseUrl = (opts.baseUrl ?? registryBaseUrl(opts.registry)).replace(/\/+$/, '');
    this.authorizer = new Authorizer(opts.auth);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.blobTimeoutMs = opts.blobTimeoutMs ?? 10 * 60_000;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.signal = opts.signal;
  }

  url(target: string): string {
    return target.startsWith('/') ? `${this.baseUrl}${target}` : new URL(target, `${this.baseUrl}/`).toString();
  }

  async send(req: RegistryRequest): Promise<Response> {
    const retries = req.retry === false ? 0 : this.backoff.retries;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.attempt(req).catch((err: unknown) => err as Error);
      if (outcome instanceof Response && (outcome.ok || req.expect.includes(outcome.status))) return outcome;
      let status: number | null = null;
      let detail: string;
      let retryable: boolean;
      if (outcome instanceof Response) {
        status = outcome.status;
        detail = describeErrorBody(await outcome.text().catch(() => ''));
        retryable = isRetryableStatus(status);
      } else if (outcome instanceof RegistryError) {
        throw outcome; // already decided (auth)
      } else {
        detail = networkDetail(outcome);
        retryable = true;
      }
      if (this.signal?.aborted) {
        retryable = false;
        detail = `${detail} (stopped: ${abortReason(this.signal)})`;
      }
      if (!retryable || attempt > retries) {
        throw new RegistryError({ registry: this.registry, call: req.call, status, retryable, attempts: attempt, detail });
      }
      await sleep(backoffDelay(attempt - 1, this.backoff));
    }
  }

  private async attempt(req: RegistryRequest): Promise<Response> {
    const timeoutMs = req.blob ? this.blobTimeoutMs : this.timeoutMs;
    const signal = this.signal ? AbortSignal.any([AbortSignal.timeout(timeoutMs), this.signal]) : AbortSignal.timeout(timeoutMs);
    const auth = this.authorizer.cached(req.scopes);
    let res = await this.fetchOnce(req, auth, signal);
    if (res.status !== 401) return res;
    const challenge = res.headers.get('www-authenticate');
    await res.body?.cancel();
    if (!challenge) return res;
    let header: string;
    try {
      header = await this.authorizer.answer(challenge, req.scopes, signal);
    } catch (err) {
      throw new RegistryError({ registry: this.registry, call: req.call, status: 401, retryable: false, attempts: 1, detail: (err as Error).message });
    }
    if (req.body instanceof ReadableStream) {
      // The stream went with the first try; the caller retries the whole operation with the now-cached auth.
      throw new RegistryError({ registry: this.registry, call: req.call, status: 401, retryable: true, attempts: 1, detail: 'authenticated; resend the body' });
    }
    res = await this.fetchOnce(req, header, signal);
    if (res.status === 401) {
      await res.body?.cancel();
      throw new RegistryError({ registry: this.registry, call: req.call, status: 401, retryable: false, attempts: 1, detail: 'credentials rejected' });
    }
    return res;
  }

  private fetchOnce(req: RegistryRequest, authorization: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { ...req.headers };
    if (authorization) headers['Authorization'] = authorization;
    const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers, signal, redirect: 'follow' };
    if (req.body !== undefined) {
      init.body = req.body;
      if (req.body instanceof ReadableStream) init.duplex = 'half';
    }
    return fetch(this.url(req.target), init);
  }
}

function abortReason(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'aborted';
}

function networkDetail(err: Error): string {
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? err.message;
}
