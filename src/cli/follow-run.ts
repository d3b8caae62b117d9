import type { RunRecord } from '../runs/types.js';
import type { RunStore } from '../runs/run-store.js';

const FINAL = ['succeeded', 'failed', 'skipped', 'canceled'];

/** Prints a run's job changes and log lines as they happen, until the run ends. */
export async function followRun(store: RunStore, runId: string, print: (line: string) => void, timeoutMs = 10 * 60_000): Promise<RunRecord> {
  const seen = new Map<string, string>();
  let logFrom = 0;
  let lastPhase = '';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const run = await store.get(runId);
    if (run) {
      if (run.status.phase !== lastPhase) {
        lastPhase = run.status.phase;
        print(`run ${run.id}: ${run.status.phase} — ${run.status.reason}`);
      }
      const lines = await store.readLog(runId, logFrom);
      logFrom += lines.length;
      for (const l of lines) print(`  [${l.job}] ${l.line}`);
      for (const j of run.jobs) {
        const key = `${j.status.phase}:${j.status.reason}`;
        if (seen.get(j.name) !== key) {
          seen.set(j.name, key);
          print(`  job ${j.name}: ${j.status.phase} — ${j.status.reason}`);
        }
      }
      if (FINAL.includes(run.status.phase)) return run;
    }
    if (Date.now() > deadline) throw new Error(`run ${runId} did not finish within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
