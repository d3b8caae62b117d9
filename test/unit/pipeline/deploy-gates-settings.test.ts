import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../../src/pipeline/errors.js';
import { parsePipelineFile } from '../../../src/pipeline/parse.js';
import { planPipeline } from '../../../src/planning/plan.js';
import type { PlannedDeployJob } from '../../../src/planning/plan-types.js';

const file = (production: string[], pre: string[] = ['    pre: { port: 18080 }']) =>
  ['build: { image: team/app }', 'deploy:', '  environments:', ...pre, '    production:', '      port: 18090', ...production, ''].join('\n');

const problemsOf = (text: string) => {
  const r = parsePipelineFile(text);
  if (r.ok) throw new Error('expected problems');
  return r.problems.map(formatProblem);
};

describe('deploy windows, freezes and soak in .slipway.yml', () => {
  it('plans them on the deploy job: weekdays as numbers, the soak after the environment listed before', () => {
    const r = parsePipelineFile(
      file([
        '      soak: 30m',
        '      deploy_windows:',
        '        - { days: mon-fri, from: "09:00", to: "17:00", timezone: Europe/Berlin }',
        '        - { days: [sun, sat], from: "10:00", to: "12:00" }',
        '      freeze:',
        "        - { name: year-end, start: '0 18 20 12 *', end: '0 9 2 1 *', timezone: Europe/Berlin }",
      ]),
    );
    if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
    const plan = planPipeline(r.file, {
      kind: 'full',
      event: 'merge',
      project: { id: 1, path: 'team/app', defaultBranch: 'main', webUrl: undefined },
      sha: 'a'.repeat(40),
      ref: 'main',
      before: undefined,
      mergeRequest: undefined,
      actor: 'dev',
    });
    const prod = plan.jobs.find((j): j is PlannedDeployJob => j.name === 'deploy:production');
    expect(prod).toMatchObject({
      soak: { ms: 1_800_000, after: 'pre' },
      windows: [
        { days: [1, 2, 3, 4, 5], from: '09:00', to: '17:00', timezone: 'Europe/Berlin' },
        { days: [0, 6], from: '10:00', to: '12:00', timezone: 'UTC' },
      ],
      freezes: [{ name: 'year-end', start: '0 18 20 12 *', end: '0 9 2 1 *', timezone: 'Europe/Berlin' }],
    });
    expect(plan.jobs.find((j) => j.name === 'deploy:pre')).not.toHaveProperty('soak');
  });

  it('names a bad window, freeze or soak at its line and column', () => {
    const problems = problemsOf(
      file([
        '      soak: 30 minutes',
        '      deploy_windows:',
        '        - { days: weekdays, from: "9:00", to: "17:00", timezone: Mars/Olympus }',
        '        - { days: mon, from: "18:00", to: "08:00" }',
        '      freeze:',
        "        - { name: x, start: '0 18 20 12', end: '0 9 31 2 *' }",
      ]),
    );
    expect(problems).toEqual([
      ".slipway.yml:7:13: 'deploy.environments.production.soak': must be a duration like '90s', '10m', '1h 30m', or a number of seconds",
      ".slipway.yml:9:19: 'deploy.environments.production.deploy_windows.0.days': days are a range like 'mon-fri', one day like 'sat', or a list like [sat, sun]",
      ".slipway.yml:9:35: 'deploy.environments.production.deploy_windows.0.from': a time of day like '09:00' (24-hour)",
      ".slipway.yml:9:66: 'deploy.environments.production.deploy_windows.0.timezone': an IANA time zone such as Europe/Berlin or UTC",
      ".slipway.yml:10:43: 'deploy.environments.production.deploy_windows.1.to': 'from' must be earlier than 'to' on the same day (a window across midnight is two windows)",
      ".slipway.yml:12:29: 'deploy.environments.production.freeze.0.start': '0 18 20 12' is not a cron expression of five fields (minute hour day-of-month month day-of-week), e.g. '0 18 20 12 *'",
      expect.stringMatching(/^\.slipway\.yml:12:48: 'deploy\.environments\.production\.freeze\.0\.end': '0 9 31 2 \*' is not a usable cron expression: /),
    ]);
  });

  it('refuses a soak on the first environment: it has none to soak in', () => {
    expect(problemsOf(['build: { image: team/app }', 'deploy:', '  environments:', '    pre: { port: 18080, soak: 10m }', ''].join('\n'))).toEqual([
      ".slipway.yml:4:31: 'deploy.environments.pre.soak': the first environment has no earlier one for its release to soak in: list pre after the environment to soak in (e.g. pre)",
    ]);
  });
});
