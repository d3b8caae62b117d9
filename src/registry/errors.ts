/**
 * A registry call that failed, saying which call, on which registry, with what answer, and
 * whether trying again later can help (the decision travels with the error).
 */
export interface RegistryErrorInit {
  registry: string;
  /** e.g. "PUT manifest app:1.0" or "HEAD blob app@sha256:…" */
  call: string;
  /** HTTP status, or null when no answer came (network error, timeout). */
  status: number | null;
  retryable: boolean;
  attempts: number;
  detail: string;
}

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  readonly registry: string;
  readonly call: string;
  readonly status: number | null;
  readonly retryable: boolean;
  readonly attempts: number;

  constructor(init: RegistryErrorInit) {
    const answer = init.status === null ? 'got no answer' : `answered ${init.status}`;
    const tries = init.attempts > 1 ? ` after ${init.attempts} attempts` : '';
    super(`registry ${init.registry}: ${init.call} ${answer}${tries}${init.detail ? `: ${init.detail}` : ''}`);
    this.registry = init.registry;
    this.call = init.call;
    this.status = init.status;
    this.retryable = init.retryable;
    this.attempts = init.attempts;
  }
}

/** The distribution spec's error body: {"errors":[{"code","message","detail"}]} → "CODE: message". */
export function describeErrorBody(text: string): string {
  try {
    const body = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const parts = (body.errors ?? []).map((e) => [e.code, e.message].filter((x) => typeof x === 'string' && x).join(': '));
    if (parts.length > 0) return parts.join('; ');
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim().slice(0, 300);
}
