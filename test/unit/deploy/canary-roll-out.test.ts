import { describe, expect, it } from 'vitest';
import { rollOutCanary, type PauseApproval, type PauseDecision } from '../../../src/deploy/canary-roll-out.js';
import { DeployFailedError } from '../../../src/deploy/deploy-errors.js';
import type { AppliedRelease, DeployTarget, ReleaseSpec, Verdict } from '../../../src/deploy/deploy-target.js';

// The canary runner with a target that records its calls: the target's own start/abort are used when
// it has them, and the step gate (the hook analysis will use) can abort a step.
const spec: ReleaseSpec = { service: 'web', environment: 'pre', image: 'reg/web:2', env: {}, port: 8080, healthPath: '/', runId: 'r2' };

function fakeTarget(calls: string[]): DeployTarget {
  const release: AppliedRelease = { spec, url: 'http://web/', id: 'web-canary', replaces: 'r1', alreadyLive: false };
  const healthy: Verdict = { healthy: true };
  return {
    kind: 'kubernetes',
    apply: () => Promise.reject(new Error('apply is not how this target starts a canary')),
    waitForVerdict: () => Promise.resolve(healthy),
    rollBack: () => Promise.reject(new Error('rollBack is not how this target aborts a canary')),
    describe: () => Promise.resolve(null),
    canary: {
      start: () => {
        calls.push('start');
        return Promise.resolve(release);
      },
      abort: () => {
        calls.push('abort');
        return Promise.resolve();
      },
      waitHealthy: () => Promise.resolve(healthy),
      setWeight: (_r, w) => {
        calls.push(`weight ${w}`);
        return Promise.resolve();
      },
      check: () => Promise.resolve(healthy),
      promote: (_r, _log, timeoutMs) => {
        calls.push(`promote within ${timeoutMs}`);
        return Promise.resolve();
      },
    },
  };
}

describe('rollOutCanary', () => {
  it("uses the target's start and promote, calling the step gate after each weight", async () => {
    const calls: string[] = [];
    await rollOutCanary(fakeTarget(calls), spec, [{ setWeight: 10 }, { setWeight: 50 }], {
      timeoutMs: 5_000,
      onLog: () => undefined,
      onStep: (step) => {
        calls.push(`gate ${step.weight}% ${step.index}/${step.of}`);
        return Promise.resolve({ healthy: true });
      },
    });
    expect(calls).toEqual(['start', 'weight 10', 'gate 10% 1/2', 'weight 50', 'gate 50% 2/2', 'promote within 5000']);
  });

  it("a failing gate aborts at its step through the target's abort, saying why", async () => {
    const calls: string[] = [];
    const err = await rollOutCanary(fakeTarget(calls), spec, [{ setWeight: 10 }, { setWeight: 50 }], {
      timeoutMs: 5_000,
      onLog: () => undefined,
      onStep: (step) => Promise.resolve(step.weight === 50 ? { healthy: false, reason: 'error rate 7% > 1%', lastLogs: [] } : { healthy: true }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeployFailedError);
    expect((err as Error).message).toBe("canary aborted at 50% (step 2 of 2): step gate failed: error rate 7% > 1%; all traffic is back on run r1's release");
    expect(calls).toEqual(['start', 'weight 10', 'weight 50', 'abort']);
  });

  describe('pause: {} (waits for an approval)', () => {
    const steps = [{ setWeight: 10 }, { pauseMs: null }, { setWeight: 50 }];
    /** An approval source whose decision arrives on the `after`-th poll. */
    function approvals(decision: PauseDecision | null, calls: string[], opts: { after?: number; deadline?: number } = {}): PauseApproval {
      let polls = 0;
      return {
        open: (at) => {
          calls.push(`open step ${at.step} of ${at.of} at ${at.weight}%`);
          return Promise.resolve({ deadline: opts.deadline ?? Date.now() + 60_000 });
        },
        poll: (step) => {
          polls += 1;
          calls.push(`poll ${step}`);
          return Promise.resolve(polls >= (opts.after ?? 2) ? decision : null);
        },
      };
    }

    it('stays at its weight, saying it waits, until approved; then resumes at the next step', async () => {
      const calls: string[] = [];
      const statuses: string[] = [];
      await rollOutCanary(fakeTarget(calls), spec, steps, {
        timeoutMs: 5_000,
        checkEveryMs: 1,
        onLog: () => undefined,
        onStatus: (s) => void statuses.push(s),
        approval: approvals({ approved: true, by: '@ann' }, calls),
      });
      expect(calls).toEqual(['start', 'weight 10', 'open step 2 of 3 at 10%', 'poll 2', 'poll 2', 'weight 50', 'promote within 5000']);
      expect(statuses).toEqual(['canary at 10% (step 1 of 3)', 'canary at 10%: waiting for an approval (step 2 of 3)', 'canary at 50% (step 3 of 3)']);
    });

    it('a rejection aborts the canary with its reason', async () => {
      const calls: string[] = [];
      const err = await rollOutCanary(fakeTarget(calls), spec, steps, {
        timeoutMs: 5_000,
        checkEveryMs: 1,
        onLog: () => undefined,
        approval: approvals({ approved: false, reason: 'rejected by @ann: p99 too high' }, calls),
      }).catch((e: unknown) => e);
      expect((err as Error).message).toBe("canary aborted at 10% (step 2 of 3): rejected by @ann: p99 too high; all traffic is back on run r1's release");
      expect(calls.filter((c) => !c.startsWith('poll'))).toEqual(['start', 'weight 10', 'open step 2 of 3 at 10%', 'abort']);
    });

    it('no decision by the deadline aborts, saying until when it waited', async () => {
      const calls: string[] = [];
      const deadline = Date.now() + 30;
      const err = await rollOutCanary(fakeTarget(calls), spec, steps, {
        timeoutMs: 5_000,
        checkEveryMs: 5,
        onLog: () => undefined,
        approval: approvals(null, calls, { deadline }),
      }).catch((e: unknown) => e);
      expect((err as Error).message).toBe(
        `canary aborted at 10% (step 2 of 3): no approval by ${new Date(deadline).toISOString()}, the end of the pause's wait; all traffic is back on run r1's release`,
      );
      expect(calls.at(-1)).toBe('abort');
    });

    it('without a way to receive an approval, the pause aborts instead of waiting forever', async () => {
      const calls: string[] = [];
      const err = await rollOutCanary(fakeTarget(calls), spec, steps, { timeoutMs: 5_000, onLog: () => undefined }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/^canary aborted at 10% \(step 2 of 3\): pause: \{\} waits for an approval/);
      expect(calls).toEqual(['start', 'weight 10', 'abort']);
    });
  });
});
