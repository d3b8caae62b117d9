import { randomBytes } from 'node:crypto';

/** Sortable by creation time, unique without coordination between receivers. */
export function newRunId(now: number = Date.now()): string {
  return `${now.toString(36)}-${randomBytes(5).toString('hex')}`;
}
