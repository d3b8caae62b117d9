import type { RegistryStore } from './registry-store.js';
import type { StoreIndex } from './store-index.js';

const BATCH = 200;

export interface SweepResult {
  deleted: string[];
  /** Entries whose delete failed: put back, tried again by the next sweep. */
  failed: Array<{ entry: string; error: string }>;
}

/**
 * Deletes expired artifacts (artifacts:expire_in): their manifests, by digest, through the
 * registry API. Several nodes may sweep at once: each entry is claimed in Redis first, so exactly
 * one of them deletes it. The blobs stay in the registry's storage until its garbage collection
 * runs (distribution's `registry garbage-collect`, Harbor's GC schedule).
 */
export async function sweepExpiredArtifacts(store: RegistryStore, index: StoreIndex, nowMs: number): Promise<SweepResult> {
  const result: SweepResult = { deleted: [], failed: [] };
  for (let round = 0; round < 50; round++) {
    const due = await index.due(nowMs, BATCH);
    let claimed = 0;
    for (const e of due) {
      if (!(await index.claim(e.member))) continue;
      claimed++;
      try {
        await store.remove(e.repository, e.digest);
        result.deleted.push(e.member);
      } catch (err) {
        await index.unclaim(e.member, e.atMs);
        result.failed.push({ entry: e.member, error: err instanceof Error ? err.message : String(err) });
      }
    }
    // A failed entry goes back with its old time: stop instead of retrying it in this sweep.
    if (due.length < BATCH || result.failed.length > 0 || claimed === 0) break;
  }
  return result;
}

/** Sweeps every `everyMs` until stopped; each sweep's outcome goes to `report`. */
export function startArtifactSweeper(store: RegistryStore, index: StoreIndex, everyMs: number, report: (r: SweepResult | Error) => void): () => void {
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    sweepExpiredArtifacts(store, index, Date.now())
      .then(report, (err: unknown) => report(err instanceof Error ? err : new Error(String(err))))
      .finally(() => {
        running = false;
      });
  };
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
