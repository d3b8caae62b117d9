import { randomBytes } from 'node:crypto';

/** Sortable by creation time, unique without coordination between receivers. */
export function newRunId(now: number = Date.now()): string {
  return `${now.toString(36)}-${randomHex5()}`;
}

// Random bytes drawn 4 KiB at a time: one randomBytes call per delivery was a visible share of the
// webhook route's CPU. Run ids need to be unique, not secret.
const POOL = 4096;
let pool = Buffer.alloc(0);
let at = POOL;
function randomHex5(): string {
  if (at + 5 > pool.length) {
    pool = randomBytes(POOL);
    at = 0;
  }
  at += 5;
  return pool.toString('hex', at - 5, at);
}
