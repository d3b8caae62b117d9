import { describe, expect, it } from 'vitest';
import { fitDescription } from '../../../src/notify/commit-status.js';

const QUERY =
  'sum(rate(http_requests_total{code=~"5..", service="shop", run="01JDQ0RUNIDRUNIDRUNID00000"}[5s])) / sum(rate(http_requests_total{service="shop", run="01JDQ0RUNIDRU…';
const REASON = `deploy to pre failed: canary aborted at 25% (step 1 of 2): step gate failed: analysis error-rate failed 1 of 2 measurements (limit 0): ${QUERY} = 0.5 at 2026-11-29T21:30:05.123Z, needs result[0] < 0.05; all traffic is back on run 01JDQ0RUNIDRUNIDRUNID00000's release`;

describe("a commit status's description (GitLab keeps 255 characters)", () => {
  it('keeps a short reason as it is', () => {
    expect(fitDescription('deploy to pre failed: boom')).toBe('deploy to pre failed: boom');
  });

  it("shortens an analysis's query, never the value seen, when, or the threshold", () => {
    const d = fitDescription(REASON);
    expect(d.length).toBeLessThanOrEqual(255);
    expect(d).toMatch(
      /^deploy to pre failed: canary aborted at 25% \(step 1 of 2\): step gate failed: analysis error-rate failed 1 of 2 measurements \(limit 0\): sum\(rate\(http_requests_total\{code=~"5\.\.", .*… = 0\.5 at 2026-11-29T21:30:05\.123Z, needs result\[0\] < 0\.05$/,
    );
  });

  it('cuts any other long text at 255 characters, keeping its start', () => {
    expect(fitDescription('x'.repeat(300))).toBe('x'.repeat(255));
  });
});
