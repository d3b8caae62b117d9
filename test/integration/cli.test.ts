import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/planning/plan-types.js';

// `slipway validate` and `slipway plan` as a user runs them (e.g. from a pre-commit hook): a real
// process, its exit code, stdout and stderr. tsx stands in for the build (dist/) the bin uses.
const MAIN = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
const TSX = createRequire(import.meta.url).resolve('tsx');

function slipway(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const VALID = `include:
  - ci/lint.yml
  - { template: node }
variables: { NODE_IMAGE: slipway/busybox:1 }
docs:
  image: slipway/busybox:1
  script: [make docs]
  rules:
    - changes: [docs/**]
build: { image: shop/cart, template: node }
deploy:
  service: cart
  environments:
    pre: { port: 18080 }
`;

describe('slipway validate, plan, --help and --version (processes)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'slipway-cli-'));
  beforeAll(() => {
    mkdirSync(path.join(dir, 'ci'));
    writeFileSync(path.join(dir, '.slipway.yml'), VALID);
    writeFileSync(path.join(dir, 'ci/lint.yml'), 'lint:\n  image: slipway/busybox:1\n  script: [make lint]\n');
    writeFileSync(
      path.join(dir, 'broken.yml'),
      'include: [ci/bad.yml]\nunit:\n  image: slipway/busybox:1\n  scirpt: [make]\ne2e:\n  image: slipway/busybox:1\n  script: [make e2e]\n  needs: [unitt]\n',
    );
    writeFileSync(path.join(dir, 'ci/bad.yml'), 'lint:\n  imgae: x\n  script: [make]\n');
    writeFileSync(path.join(dir, 'remote.yml'), 'include: [{ project: platform/ci, ref: v2, file: [security.yml] }]\nunit:\n  image: x\n  script: [make]\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('validate: exit 0 for a valid file (default .slipway.yml) with its local and template includes', async () => {
    const r = await slipway(['validate'], dir);
    expect(r).toEqual({ code: 0, stdout: '.slipway.yml: valid (3 jobs, 2 included files)\n', stderr: '' });
  });

  it('validate: exit 1 with every problem as file:line:col: message on stderr, in included files too', async () => {
    const r = await slipway(['validate', 'broken.yml'], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        "ci/bad.yml:2:3: unknown key 'imgae' in job 'lint' — did you mean 'image'?",
        "broken.yml:4:3: unknown key 'scirpt' in job 'unit' — did you mean 'script'?",
      ]),
    );
    for (const line of lines.slice(0, -1)) expect(line).toMatch(/^[\w./-]+\.yml:\d+:\d+: \S/);
    expect(lines.at(-1)).toBe(`broken.yml: ${lines.length - 1} problems`);
  });

  it('validate: exit 1 for a setting Slipway does not act on yet, at its line and column', async () => {
    writeFileSync(
      path.join(dir, 'later.yml'),
      'build: { image: shop/cart }\ndeploy:\n  environments:\n    production:\n      port: 28080\n      resource_group: prod\n',
    );
    const r = await slipway(['validate', 'later.yml'], dir);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr:
        "later.yml:6:7: 'deploy.environments.production.resource_group' is not supported yet: a deploy holds its environment's lock instead (one deploy per service and environment at a time)\nlater.yml: 1 problem\n",
    });
  });

  it('validate: exit 2 when the file cannot be read; project includes are named as not checked', async () => {
    const missing = await slipway(['validate', 'nope.yml'], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^slipway: cannot read nope\.yml: ENOENT/);
    const remote = await slipway(['validate', 'remote.yml'], dir);
    expect(remote.code).toBe(0);
    expect(remote.stderr).toBe('not checked offline: include platform/ci:security.yml@v2\n');
  });

  it('plan: the jobs in order and each skipped job with its reason, as text or JSON', async () => {
    const [mr, merge] = await Promise.all([
      slipway(['plan', '--event', 'mr', '--ref', 'feature', '--changed', 'src/cart.ts'], dir),
      slipway(['plan', '.slipway.yml', '--event', 'merge', '--changed', 'docs/api.md', '--json'], dir),
    ]);
    expect(mr.code).toBe(0);
    const lines = mr.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('2 jobs would run, in this order:');
    expect(lines.slice(1, 3).map((l) => l.replace(/ \[.*$/, ''))).toEqual(['  1. lint', '  2. node-test']);
    expect(lines).toContain('3 skipped:');
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}- docs: no rule matched \(rules\[0\]: changes \[docs\/\*\*\] matched none/));
    expect(lines.filter((l) => l.startsWith('  - ')).map((l) => l.slice(4).split(': ')[0])).toEqual(['docs', 'image', 'deploy:pre']);

    expect(merge.code).toBe(0);
    const plan = JSON.parse(merge.stdout) as Plan;
    expect(plan.jobs.map((j) => j.name)).toEqual(['lint', 'node-test', 'docs', 'image', 'deploy:pre']);
    expect(plan.skipped).toEqual([]);
  });

  it("plan: exit 2 for bad arguments (commander's message, then the usage, on stderr), 1 for an invalid file", async () => {
    const [badEvent, unknownFlag, invalid] = await Promise.all([
      slipway(['plan', '--event', 'deploy'], dir),
      slipway(['plan', '--evnt', 'mr'], dir),
      slipway(['plan', 'broken.yml'], dir),
    ]);
    expect(badEvent.code).toBe(2);
    expect(badEvent.stderr).toMatch(
      /^error: option '--event <event>' argument 'deploy' is invalid\. Allowed choices are merge, mr, push, tag, manual\.\n\nUsage: slipway plan /,
    );
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toMatch(/^error: unknown option '--evnt'\n\(Did you mean --event\?\)/);
    expect(unknownFlag.stdout).toBe('');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("broken.yml:4:3: unknown key 'scirpt' in job 'unit' — did you mean 'script'?");
    expect(invalid.stdout).toBe('');
  });

  it('validate --json: one JSON object on stdout with the same exit codes (0 valid, 1 invalid, 2 unreadable)', async () => {
    const [valid, invalid, remote, missing] = await Promise.all([
      slipway(['validate', '--json'], dir),
      slipway(['validate', 'broken.yml', '--json'], dir),
      slipway(['validate', '--json', 'remote.yml'], dir),
      slipway(['validate', '--json', 'nope.yml'], dir),
    ]);
    expect(valid.code).toBe(0);
    expect(valid.stderr).toBe('');
    expect(JSON.parse(valid.stdout)).toEqual({
      file: '.slipway.yml',
      valid: true,
      problems: [],
      jobs: ['lint', 'node-test', 'docs'],
      includes: ['ci/lint.yml', 'template node'],
      notChecked: [],
    });

    expect(invalid.code).toBe(1);
    const report = JSON.parse(invalid.stdout) as { valid: boolean; problems: Array<{ file: string; line: number; column: number; message: string }> };
    expect(report).toMatchObject({ file: 'broken.yml', valid: false, jobs: [], includes: [], notChecked: [] });
    expect(report.problems).toContainEqual({ file: 'broken.yml', line: 4, column: 3, message: "unknown key 'scirpt' in job 'unit' — did you mean 'script'?" });
    expect(report.problems).toContainEqual({ file: 'ci/bad.yml', line: 2, column: 3, message: "unknown key 'imgae' in job 'lint' — did you mean 'image'?" });

    expect(remote.code).toBe(0);
    expect(JSON.parse(remote.stdout)).toMatchObject({ valid: true, jobs: ['unit'], notChecked: ['platform/ci:security.yml@v2'] });

    expect(missing).toMatchObject({ code: 2, stdout: '' });
    expect(missing.stderr).toMatch(/^slipway: cannot read nope\.yml: ENOENT/);
  });

  it('plan --json for an invalid file: { problems } on stdout, exit 1', async () => {
    const r = await slipway(['plan', 'broken.yml', '--json'], dir);
    expect(r.code).toBe(1);
    const body = JSON.parse(r.stdout) as { problems: unknown[] };
    expect(Object.keys(body)).toEqual(['problems']);
    expect(body.problems).toContainEqual({ file: 'broken.yml', line: 4, column: 3, message: "unknown key 'scirpt' in job 'unit' — did you mean 'script'?" });
  });

  it('--help, plan --help, --version and an unknown command through the real process', async () => {
    const [help, planHelp, version, unknown] = await Promise.all([
      slipway(['--help'], dir),
      slipway(['plan', '--help'], dir),
      slipway(['--version'], dir),
      slipway(['deploy'], dir),
    ]);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: slipway \[options\] \[command\]/);
    for (const name of ['demo', 'validate', 'plan', 'server']) expect(help.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    expect(planHelp).toMatchObject({ code: 0, stderr: '' });
    expect(planHelp.stdout).toMatch(/^Usage: slipway plan \[options\] \[file\]/);
    expect(version).toMatchObject({ code: 0, stderr: '' });
    expect(version.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    expect(unknown).toMatchObject({ code: 2, stdout: '' });
    expect(unknown.stderr).toMatch(/^error: unknown command 'deploy'/);
  });
});
