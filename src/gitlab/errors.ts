// Errors that carry the decision: `retryable` tells the caller (a job runner) whether trying again
// later can help. The message names the call, the project and the HTTP status, never the token.

export type GitlabFailureKind = 'http' | 'timeout' | 'network' | 'invalid-response';

export interface GitlabApiErrorInit {
  call: string;
  projectId: number;
  kind: GitlabFailureKind;
  // HTTP status; null when no response came back (timeout, network).
  status: number | null;
  retryable: boolean;
  attempts: number;
  detail: string;
  // Set when GitLab asked us to wait (429 Retry-After) longer than we were willing to block.
  retryAfterMs?: number;
  cause?: unknown;
}

export class GitlabApiError extends Error {
  readonly call: string;
  readonly projectId: number;
  readonly kind: GitlabFailureKind;
  readonly status: number | null;
  readonly retryable: boolean;
  readonly attempts: number;
  readonly retryAfterMs: number | undefined;

  constructor(init: GitlabApiErrorInit) {
    const what = init.status === null ? init.kind : `HTTP ${init.status}`;
    const tries = init.attempts === 1 ? '1 attempt' : `${init.attempts} attempts`;
    super(`GitLab ${init.call} for project ${init.projectId} failed: ${what} (${init.detail}) after ${tries}`, {
      cause: init.cause,
    });
    this.name = 'GitlabApiError';
    this.call = init.call;
    this.projectId = init.projectId;
    this.kind = init.kind;
    this.status = init.status;
    this.retryable = init.retryable;
    this.attempts = init.attempts;
    this.retryAfterMs = init.retryAfterMs;
  }
}

// One failed HTTP attempt, thrown by the requester; the retry loop turns it into a GitlabApiError.
export class AttemptFailure extends Error {
  constructor(
    readonly kind: 'http' | 'timeout' | 'network',
    readonly status: number | null,
    readonly description: string,
    readonly retryAfterMs: number | null,
    cause?: unknown,
  ) {
    super(description, { cause });
    this.name = 'AttemptFailure';
  }
}
