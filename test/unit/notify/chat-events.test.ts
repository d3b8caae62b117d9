import { describe, expect, it } from 'vitest';
import { eventOfJob } from '../../../src/notify/chat-events.js';
import type { JobRecord, RunSummary } from '../../../src/runs/types.js';

const at = '2026-11-29T20:00:00.000Z';
const deployJob = (phase: JobRecord['status']['phase'], reason: string): JobRecord => ({
  name: 'deploy:pre',
  kind: 'deploy',
  stage: 'deploy',
  status: { phase, reason, at },
  startedAt: at,
  finishedAt: at,
  exitCode: undefined,
});
const run = {
  id: 'r2',
  request: { kind: 'full', event: 'merge', sha: 'b'.repeat(40), ref: 'main', project: { id: 1, path: 'team/web', defaultBranch: 'main' } },
  deliveryId: 'd',
  createdAt: at,
  status: { phase: 'failed', reason: 'x', at },
  jobs: [],
  image: undefined,
  deployments: [],
  sonar: undefined,
} as unknown as RunSummary;
const kindOf = (phase: JobRecord['status']['phase'], reason: string) => eventOfJob(run, deployJob(phase, reason), 'http://slipway')?.kind;

describe('chat events of a deploy job', () => {
  it('a release rolled back by itself is rolled-back; one an analysis stopped is analysis-aborted, naming the environment', () => {
    expect(kindOf('failed', 'deploy to pre failed, rolled back to run r1: a: deployment "web" exceeded its progress deadline')).toBe('rolled-back');
    expect(
      kindOf(
        'failed',
        'deploy to pre failed, rolled back to run r1: analysis error-rate failed 2 of 3 measurements (limit 1): sum(rate(x[1m])) = 0.31 at 2026-11-29T18:30:05Z, needs result[0] < 0.05',
      ),
    ).toBe('analysis-aborted');
    expect(
      kindOf(
        'failed',
        'deploy to pre failed: canary aborted at 10% (step 1 of 3): step gate failed: analysis smoke failed 1 of 1 measurements (limit 0): GET …',
      ),
    ).toBe('analysis-aborted');
    for (const gate of ['prePromotionAnalysis failed, not switched', 'postPromotionAnalysis failed, switched back']) {
      expect(kindOf('failed', `deploy to pre failed, rolled back to run r1: ${gate}: analysis smoke failed 1 of 1 measurements (limit 0): GET …`)).toBe(
        'analysis-aborted',
      );
    }
    expect(
      kindOf('failed', "deploy to pre failed: canary aborted at 10% (step 2 of 3): rejected by @bert: p99 doubled; all traffic is back on run r1's release"),
    ).toBe('rolled-back');
    const e = eventOfJob(run, deployJob('failed', 'deploy to pre failed, rolled back to run r1: bad'), 'http://slipway');
    expect(e).toMatchObject({ environment: 'pre', dedupeKey: 'rolled-back:deploy:pre', runUrl: 'http://slipway/runs/r2' });
  });

  it('a deploy that failed with nothing rolled back, or a failed script job, is no such event', () => {
    expect(kindOf('failed', 'deploy to pre failed: no image was built for this run')).toBeUndefined();
    expect(
      eventOfJob(run, { ...deployJob('failed', 'deploy to pre failed, rolled back to run r1: x'), kind: 'script', name: 'unit' }, 'http://s'),
    ).toBeUndefined();
  });
});
