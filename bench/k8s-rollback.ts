/**
 * Rollback on demand vs the first rollout of the same release (issue 11: a rollback must not be
 * slower than the release's first rollout). On the Kubernetes test bed, per round, in a namespace of
 * its own: release v1's first rollout (Slipway's Kubernetes target: server-side apply to Ready by
 * kubectl's rules, image pulled from the registry), then v2, then a rollback on demand to v1 through
 * the release history: `requestRollback` (choose, record, pause) and the deploy worker's
 * `runRollbackJob` (environment lock, the recorded spec re-applied, verdict) until Ready. The BullMQ
 * hop between the two is left out (the same queue as deploys; milliseconds). Prints each round, the
 * medians and their ratio.
 *
 *   bash .ci/k8s-testbed.sh exec npx tsx bench/k8s-rollback.ts [--runs 3]
 */
import { parseArgs } from 'node:util';
import { rollOut } from '../src/deploy/roll-out.js';
import { requestRollback, type RollbackJobData } from '../src/releases/rollback.js';
import { runRollbackJob } from '../src/releases/run-rollback-job.js';
import { ENVIRONMENT, openRollbackBed, SERVICE, type RollbackBed } from '../test/k8s/rollback-bed.js';
import { testbed } from '../test/k8s/testbed-env.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a whole number, at least 1');
const tb = testbed();
if (tb.kubelet === 'sim') console.warn('*** KUBELET SIMULATOR IN USE: no image is pulled and no pod runs; these figures say nothing ***');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function deploy(bed: RollbackBed, runId: string, image: string, greeting: string): Promise<number> {
  const spec = await bed.release(runId, image, greeting);
  const t0 = performance.now();
  const applied = await rollOut(bed.target, spec, { timeoutMs: 120_000, onLog: () => undefined });
  const ms = performance.now() - t0;
  await bed.ledger.recordDeploy({
    kind: 'deploy',
    spec,
    target: 'kubernetes',
    project: { id: 1, path: 'bench/web' },
    sha: 'c'.repeat(40),
    digest: image.slice(image.indexOf('@') + 1),
    reason: `pipeline ${runId}`,
    outcome: 'live',
    url: applied.url,
    detail: 'ready',
    timeoutMs: 120_000,
  });
  return ms;
}

const first: number[] = [];
const back: number[] = [];
for (let i = 1; i <= runs; i++) {
  const bed = await openRollbackBed(tb, 'bench-rollback');
  try {
    first.push(await deploy(bed, `run-${i}-1`, bed.images.v1, 'one'));
    await deploy(bed, `run-${i}-2`, bed.images.v2, 'two');
    const queued: RollbackJobData[] = [];
    const t0 = performance.now();
    const asked = await requestRollback(bed.histories, { service: SERVICE, environment: ENVIRONMENT, reason: 'bench', by: 'bench' }, async (job) => {
      queued.push(job);
    });
    if (asked.status !== 202 || !queued[0]) throw new Error(`rollback refused: ${JSON.stringify(asked)}`);
    await runRollbackJob(bed.ctx, bed.histories, queued[0]);
    back.push(performance.now() - t0);
    const entry = await bed.histories.of(SERVICE, ENVIRONMENT).get(queued[0].release);
    if (entry?.outcome !== 'live') throw new Error(`rollback ended ${entry?.outcome}: ${entry?.detail}`);
    console.log(`round ${i}: first rollout of v1 ${(first.at(-1) ?? 0).toFixed(0)} ms, rollback to v1 ${(back.at(-1) ?? 0).toFixed(0)} ms`);
  } finally {
    await bed.close();
  }
}
const ratio = median(back) / median(first);
console.log(
  `median over ${runs}: first rollout ${median(first).toFixed(0)} ms, rollback ${median(back).toFixed(0)} ms, ratio rollback/first ${ratio.toFixed(2)}`,
);
console.log(ratio <= 1 ? 'rollback <= first rollout: met' : 'rollback > first rollout: NOT met');
