import { describe, expect, it } from 'vitest';
import { computeDora, median } from '../../../src/dora/compute.js';
import type { ReleaseEntry } from '../../../src/releases/types.js';

// DORA's four keys from fixed release histories (docs/configuration.md, "DORA").
const T0 = Date.parse('2024-05-01T00:00:00Z');
const at = (hours: number) => new Date(T0 + hours * 3600_000).toISOString();

function entry(id: number, hours: number, over: Partial<ReleaseEntry> = {}): ReleaseEntry {
  return {
    id,
    kind: 'deploy',
    service: 'shop',
    environment: 'production',
    target: 'docker',
    project: { id: 1, path: 'team/shop' },
    runId: `run-${id}`,
    sha: `${id}`.padStart(40, '0'),
    image: `reg/shop@sha256:${id}`,
    digest: `sha256:${id}`,
    configRevision: null,
    clusters: [],
    url: null,
    by: 'pipeline',
    at: at(hours),
    reason: 'pipeline',
    outcome: 'live',
    detail: '',
    rollbackTo: null,
    timeoutMs: 60_000,
    log: [],
    ...over,
  };
}

const window = { since: new Date(T0), until: new Date(T0 + 10 * 86_400_000) };

describe('computeDora', () => {
  it('counts deploys per day, the failure rate and the lead time from the first commit of each change', () => {
    const entries = [
      entry(1, 10),
      entry(2, 20, { outcome: 'rolled-back' }),
      entry(3, 30),
      entry(4, 40, { outcome: 'failed' }),
      entry(5, 50, { kind: 'config' }),
    ];
    // Changes started 2 h, ? and 6 h before their deploys went live; release 3's start is unknown.
    const starts = new Map([
      [1, at(8)],
      [3, null],
    ]);
    const r = computeDora('shop', 'production', entries, window, starts);
    expect(r.deployments).toEqual({ total: 5, succeeded: 3, failed: 2, perDay: 0.3 });
    expect(r.changeFailureRate).toBe(0.4);
    expect(r.leadTime).toEqual({ medianSeconds: 2 * 3600, samples: 1, unknown: 1 });
    // 2 failed at 20 h, restored by 3 at 30 h (10 h); 4 failed at 40 h, restored by the config release at 50 h.
    expect(r.timeToRestore).toEqual({ medianSeconds: 10 * 3600, restored: 2, open: 0 });
    expect(r.complete).toBe(true);
  });

  it('a deploy rolled back on demand counts as failed, restored when the rollback ended', () => {
    const entries = [
      entry(1, 0),
      entry(2, 5),
      // Asked for at 7 h, live at 7.5 h: release 2 served from 5 h until then.
      entry(3, 7, { kind: 'rollback', rollbackTo: 1, runId: 'run-1', by: 'alice', endedAt: at(7.5) }),
    ];
    const r = computeDora(
      'shop',
      'production',
      entries,
      window,
      new Map([
        [1, at(-1)],
        [2, at(4)],
      ]),
    );
    expect(r.deployments).toMatchObject({ total: 2, succeeded: 1, failed: 1 });
    expect(r.changeFailureRate).toBe(0.5);
    expect(r.timeToRestore).toEqual({ medianSeconds: 2.5 * 3600, restored: 1, open: 0 });
    // Rollbacks are not deploys; the lead time counts the one that stayed live and the one rolled back.
    expect(r.leadTime).toEqual({ medianSeconds: 1 * 3600, samples: 2, unknown: 0 });
  });

  it('a failure with nothing live after it is open; the window leaves older releases out', () => {
    const entries = [entry(7, -30), entry(8, 1), entry(9, 2, { outcome: 'failed' })];
    const r = computeDora('shop', 'production', entries, window, new Map());
    expect(r.deployments).toMatchObject({ total: 2, succeeded: 1, failed: 1 });
    expect(r.timeToRestore).toEqual({ medianSeconds: null, restored: 0, open: 1 });
    expect(r.leadTime).toEqual({ medianSeconds: null, samples: 0, unknown: 1 });
    // Releases 1–6 are no longer kept but 7 is older than the window: the window is covered.
    expect(r.complete).toBe(true);
    expect(computeDora('shop', 'production', [entry(8, 1)], window, new Map()).complete).toBe(false);
  });

  it('no deploys: no rate, no medians', () => {
    const r = computeDora('shop', 'production', [], window, new Map());
    expect(r).toMatchObject({ changeFailureRate: null, deployments: { total: 0, perDay: 0 }, leadTime: { medianSeconds: null } });
  });

  it('median of an even count is the mean of the middle two', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNull();
  });
});
