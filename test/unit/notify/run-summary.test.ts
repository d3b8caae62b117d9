import { describe, expect, it } from 'vitest';
import { MAX_FAILURES_SHOWN, runSummaryMarkdown } from '../../../src/notify/run-summary.js';
import type { JobRecord, RunRecord } from '../../../src/runs/types.js';

const at = '2026-01-01T00:00:00.000Z';
const job = (name: string, phase: JobRecord['status']['phase'], reason: string, extra: Partial<JobRecord> = {}): JobRecord => ({
  name,
  kind: 'script',
  stage: 'test',
  status: { phase, reason, at },
  startedAt: at,
  finishedAt: at,
  exitCode: undefined,
  ...extra,
});
const run = (over: Partial<RunRecord>): RunRecord => ({
  id: 'r1',
  request: {
    kind: 'ci',
    event: 'merge_request',
    sha: 'a'.repeat(40),
    ref: 'feature/x',
    project: { id: 1, path: 'team/app', defaultBranch: 'main' },
    mergeRequest: { iid: 3, title: 't', sourceBranch: 'feature/x', targetBranch: 'main', fork: false },
    actor: undefined,
  } as unknown as RunRecord['request'],
  deliveryId: 'd',
  createdAt: at,
  status: { phase: 'failed', reason: "job 'unit' failed with exit code 1", at },
  jobs: [],
  image: undefined,
  deployments: [],
  sonar: undefined,
  plan: undefined,
  ...over,
});

describe('runSummaryMarkdown', () => {
  it('shows tests per job, coverage, the failing tests with messages and the Sonar gate', () => {
    const md = runSummaryMarkdown(
      run({
        jobs: [
          job('unit', 'failed', "job 'unit' failed with exit code 1", {
            coverage: 81.5,
            tests: { passed: 40, failed: 1, skipped: 2, errors: 0, failures: [{ suite: 'cart', name: 'totals', message: 'expected 3\ngot 4' }] },
          }),
          job('lint', 'success', 'passed in 1.0s'),
          { ...job('sonar', 'success', 'quality gate ERROR — http://sonar/x'), kind: 'sonar' },
        ],
        sonar: { status: 'ERROR', outcome: 'warn', dashboardUrl: 'http://sonar.local/dashboard?id=app&branch=feature%2Fx' },
      }),
      'http://slipway',
    );
    expect(md.split('\n')).toEqual([
      '### Slipway run [r1](http://slipway/runs/r1): failed',
      '',
      "merge_request of `aaaaaaaa` on `feature/x` — job 'unit' failed with exit code 1",
      '',
      '| job | status | tests | coverage | detail |',
      '| --- | --- | --- | --- | --- |',
      "| unit | ❌ failed | 40 passed, **1 failed**, 2 skipped | 81.5% | job 'unit' failed with exit code 1 |",
      '| lint | ✅ success |  |  | passed in 1.0s |',
      '| sonar | ✅ success |  |  | quality gate ERROR — http://sonar/x |',
      '',
      '**Failing tests** (1):',
      '',
      '- cart › totals (unit): expected 3 got 4',
      '',
      'Quality gate: ⚠️ ERROR (advisory: not blocking) — [SonarQube dashboard](http://sonar.local/dashboard?id=app&branch=feature%2Fx)',
    ]);
  });

  it('keeps the plain table when no job has tests or coverage', () => {
    const md = runSummaryMarkdown(run({ status: { phase: 'succeeded', reason: 'all jobs passed', at }, jobs: [job('build', 'success', 'ok')] }), 'http://s');
    expect(md).toContain('| job | status | detail |\n| --- | --- | --- |\n| build | ✅ success | ok |');
    expect(md).not.toContain('Failing tests');
    expect(md).not.toContain('Quality gate');
  });

  it('bounds the failing tests and says how many more there are', () => {
    const failures = Array.from({ length: 30 }, (_, i) => ({ suite: 's', name: `t${i}`, message: 'x'.repeat(1000) }));
    const md = runSummaryMarkdown(
      run({ jobs: [job('unit', 'failed', 'f', { tests: { passed: 0, failed: 45, skipped: 0, errors: 0, failures } })] }),
      'http://s',
    );
    const items = md.split('\n').filter((l) => l.startsWith('- '));
    expect(items).toHaveLength(MAX_FAILURES_SHOWN + 1);
    expect(items.at(-1)).toBe(`- … and ${45 - MAX_FAILURES_SHOWN} more in the run log`);
    expect(items[0]?.length).toBeLessThan(260);
  });

  it('renders repository text as text: no mentions, no markup, one table row per job', () => {
    const md = runSummaryMarkdown(
      run({
        jobs: [
          job('unit', 'failed', 'boom | <img src=x> @all', {
            tests: { passed: 0, failed: 1, skipped: 0, errors: 0, failures: [{ suite: '', name: '*bold* [x](http://evil)', message: 'ping @all `code`' }] },
          }),
        ],
        sonar: { status: 'OK', outcome: 'pass', dashboardUrl: 'javascript:alert(1)' },
      }),
      'http://s',
    );
    expect(md).not.toMatch(/@all/);
    expect(md).toContain('| boom \\| &lt;img src=x> @\u200dall |');
    expect(md).toContain('- \\*bold\\* \\[x\\](http://evil) (unit): ping @\u200dall \\`code\\`');
    expect(md).toContain('Quality gate: ✅ OK');
    expect(md).not.toContain('javascript:');
  });

  it('marks a required gate that failed as blocking', () => {
    const md = runSummaryMarkdown(run({ sonar: { status: 'ERROR', outcome: 'fail', dashboardUrl: 'https://sq/d' } }), 'http://s');
    expect(md).toContain('Quality gate: ❌ ERROR (required: blocks deploys) — [SonarQube dashboard](https://sq/d)');
  });
});
