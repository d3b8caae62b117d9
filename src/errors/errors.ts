/**
 * Errors that carry the decision about what happens next (BullMQ's habit):
 * - TransientError: retry with backoff (network, 5xx, a lock held by someone else).
 * - PermanentError: fail now, retrying cannot help (a bad pipeline file, a missing image).
 */
export class TransientError extends Error {
  override readonly name = 'TransientError';
}

export class PermanentError extends Error {
  override readonly name = 'PermanentError';
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
