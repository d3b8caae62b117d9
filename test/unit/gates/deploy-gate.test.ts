import { describe, expect, it } from 'vitest';
import { approvalCalendar, deployGate } from '../../../src/gates/deploy-gate.js';

const windows = [{ days: [1, 2, 3, 4, 5], from: '09:00', to: '17:00', timezone: 'Europe/Berlin' }];
const freezes = [{ name: 'year-end', start: '0 18 20 12 *', end: '0 9 2 1 *', timezone: 'Europe/Berlin' }];
const job = { environment: 'production', windows, freezes };
const SHA = 'a'.repeat(40);

describe('when a deploy may start', () => {
  it('inside a window and outside every freeze: go', () => {
    expect(deployGate(job, SHA, null, new Date('2026-12-02T10:00:00Z'))).toEqual({ kind: 'go' });
    expect(approvalCalendar(job, new Date('2026-12-02T10:00:00Z'))).toBeUndefined();
  });

  it('outside the windows: waits until the next one opens, in the window’s zone', () => {
    const v = deployGate(job, SHA, null, new Date('2026-12-04T17:30:00Z'));
    expect(v).toEqual({
      kind: 'wait',
      reason: 'waiting: production is outside its deploy windows (mon-fri 09:00-17:00 Europe/Berlin): next opens 2026-12-07 09:00 Europe/Berlin',
      recheckAt: new Date('2026-12-04T18:30:00Z'),
    });
  });

  it('inside a freeze: refused with its end and the first moment a window is open after it', () => {
    expect(approvalCalendar(job, new Date('2026-12-24T10:00:00Z'))).toBe(
      "production is frozen until 2027-01-02 09:00 Europe/Berlin (freeze 'year-end'); it may deploy next at 2027-01-04 09:00 Europe/Berlin",
    );
    expect(approvalCalendar({ environment: 'production', freezes }, new Date('2026-12-24T10:00:00Z'))).toBe(
      "production is frozen until 2027-01-02 09:00 Europe/Berlin (freeze 'year-end')",
    );
  });

  it('a soak waits for the time left, then the calendar decides', () => {
    const soak = { ms: 30 * 60_000, after: 'pre' };
    const live = { runId: 'r1', sha: SHA, at: '2026-12-02T10:00:00Z' };
    expect(deployGate({ ...job, soak }, SHA, live, new Date('2026-12-02T10:18:00Z'))).toEqual({
      kind: 'wait',
      reason: 'waiting: release must stay healthy in pre for 30m (12m left)',
      recheckAt: new Date('2026-12-02T10:19:00Z'),
    });
    expect(deployGate({ ...job, soak }, SHA, live, new Date('2026-12-02T10:30:00Z'))).toEqual({ kind: 'go' });
    expect(deployGate({ ...job, soak }, SHA, { ...live, sha: 'b'.repeat(40), runId: 'r2' }, new Date('2026-12-02T10:30:00Z'))).toEqual({
      kind: 'cancel',
      reason: `soak: pre does not run this release (aaaaaaaa): it runs bbbbbbbb of run r2, deployed at 2026-12-02T10:00:00Z`,
    });
  });

  it('a freeze with no end within 30 days cancels instead of waiting for weeks', () => {
    const long = [{ name: 'q4', start: '0 0 1 10 *', end: '0 0 1 1 *', timezone: 'UTC' }];
    const v = deployGate({ environment: 'production', freezes: long }, SHA, null, new Date('2026-10-05T00:00:00Z'));
    expect(v.kind).toBe('cancel');
  });
});
