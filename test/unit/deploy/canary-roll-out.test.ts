import { describe, expect, it } from 'vitest';
import { rollOutCanary } from '../../../src/deploy/canary-roll-out.js';
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
});
