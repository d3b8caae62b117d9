// Issue 15, "Many workers": runs/s with 1, 2 and 4 build worker processes on one Redis (the
// services' Redis, a prefix per fleet), each with one build slot, so the process count is the
// capacity. Every run is one script job (a busybox container). Prints runs/s per worker count, its
// ratio to one worker, and checks nothing was lost (every run succeeded) or run twice (container
// creates counted from the Docker engine's events).
//
//   eval "$(bash .ci/services.sh env | sed 's/^/export /')"
//   npx tsx bench/workers.ts [--runs 16] [--workers 1,2,4]
import { parseArgs } from 'node:util';
import { countExecutions, runBatch, startWorkerFleet } from '../test/helpers/worker-fleet.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '16' }, workers: { type: 'string', default: '1,2,4' } } });
const runs = Number(values.runs);
const counts = values.workers.split(',').map(Number);

const results: { workers: number; seconds: number; perSecond: number }[] = [];
let projectId = 9400;
for (const workers of counts) {
  const fleet = await startWorkerFleet({ workers, buildConcurrency: 1 });
  const executions = await countExecutions();
  try {
    // One warm-up run per fleet: the project's mirror and the image are then on this node.
    await runBatch(fleet, projectId++, 1);
    const batch = await runBatch(fleet, projectId++, runs);
    await new Promise((r) => setTimeout(r, 500));
    const failed = batch.runs.filter((r) => r.status.phase !== 'succeeded');
    const twice = batch.runs.filter((r) => executions.counts.get(`${r.id}/unit`) !== 1);
    if (failed.length > 0 || twice.length > 0) {
      throw new Error(`${workers} workers: ${failed.length} runs not succeeded, ${twice.length} jobs not run exactly once`);
    }
    results.push({ workers, seconds: batch.seconds, perSecond: runs / batch.seconds });
  } finally {
    executions.stop();
    await fleet.stop();
  }
}
const base = results[0]?.perSecond ?? 1;
console.log(`\n${runs} runs (one busybox job each) per worker count, one build slot per worker, nothing lost or run twice:`);
console.log('| workers | seconds | runs/s | × one worker |');
console.log('|---|---|---|---|');
for (const r of results) console.log(`| ${r.workers} | ${r.seconds.toFixed(1)} | ${r.perSecond.toFixed(2)} | ${(r.perSecond / base).toFixed(2)} |`);
process.exit(0);
