import { afterEach, describe, expect, it } from 'vitest';
import { countExecutions, runBatch, startWorkerFleet, type WorkerFleet } from '../helpers/worker-fleet.js';

// Issue 15, "Many workers": build worker processes on one Redis share the build queue; every job
// runs exactly once (counted from the Docker engine's container-create events, not from Slipway's
// own records), and every acknowledged run ends.
describe('several build worker processes on one Redis', () => {
  let fleet: WorkerFleet | undefined;
  afterEach(async () => fleet?.stop());

  it('runs every job of 12 runs exactly once across 3 worker processes', async () => {
    fleet = await startWorkerFleet({ workers: 3, buildConcurrency: 2 });
    const executions = await countExecutions();
    try {
      const { runs } = await runBatch(fleet, 9301, 12, 240_000);
      expect(runs.map((r) => r.status.phase)).toEqual(Array(12).fill('succeeded'));
      await new Promise((r) => setTimeout(r, 500)); // the last events are in the stream
      for (const run of runs) expect(executions.counts.get(`${run.id}/unit`), `executions of ${run.id}/unit`).toBe(1);
      expect([...executions.counts.keys()].filter((k) => runs.some((r) => k.startsWith(`${r.id}/`)))).toHaveLength(12);
    } finally {
      executions.stop();
    }
  }, 300_000);
});
