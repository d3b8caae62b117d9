import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Runs `npm run lint`'s own depcruise command on copies of src/: the unchanged copy passes, and a
// copy with forbidden imports fails naming each rule and what the module may import.
const root = path.resolve(import.meta.dirname, '..', '..', '..');

/** The depcruise part of package.json's "lint" script, as argv (it has no quoting). */
function lintCommand(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const step = pkg.scripts['lint']
    ?.split('&&')
    .map((s) => s.trim())
    .find((s) => s.startsWith('depcruise '));
  if (!step) throw new Error('package.json\'s "lint" script has no depcruise step');
  return step.split(/\s+/).slice(1);
}

/** A scratch repo holding a copy of src/, the lint config and tsconfig, with the project's node_modules. */
function scratchCopy(dirs: string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'slipway-boundaries-'));
  dirs.push(dir);
  cpSync(path.join(root, 'src'), path.join(dir, 'src'), { recursive: true });
  for (const f of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json']) cpSync(path.join(root, f), path.join(dir, f));
  symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

function write(dir: string, file: string, text: string): void {
  mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
  writeFileSync(path.join(dir, file), text);
}

interface Lint {
  code: number;
  out: string;
}

/** Runs the lint's depcruise command in `cwd` with the Node running this test (20 or 22 in CI). */
function depcruise(cwd: string): Promise<Lint> {
  const bin = path.join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, ...lintCommand()], { cwd, timeout: 60_000, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') reject(err);
      else resolve({ code: err ? Number(err.code) : 0, out: `${stdout}${stderr}` });
    });
  });
}

describe('npm run lint: module boundaries', () => {
  const dirs: string[] = [];
  let clean: Lint;
  let broken: Lint;

  beforeAll(async () => {
    const pristine = scratchCopy(dirs);
    const changed = scratchCopy(dirs);
    // config/ may import nothing: a type-only import of runs/ is a violation too.
    write(changed, 'src/config/probe-runs.ts', "import type { RunKeys } from '../runs/keys.js';\nexport type K = RunKeys;\n");
    // Product code may not import test helpers.
    write(changed, 'test/helpers/probe-helper.ts', 'export const helper = 1;\n');
    write(changed, 'src/logging/probe-test.ts', "import { helper } from '../../test/helpers/probe-helper.js';\nexport const h = helper;\n");
    // A cycle inside one module (git/ may import itself, so only the cycle rule applies).
    write(changed, 'src/git/probe-a.ts', "import { b } from './probe-b.js';\nexport const a = (): number => b() + 1;\n");
    write(changed, 'src/git/probe-b.ts', "import { a } from './probe-a.js';\nexport const b = (): number => a() - 1;\n");
    // deploy/ is product code: no stand-ins.
    write(changed, 'src/deploy/probe-standin.ts', "export { startFakeSonar } from '../standins/sonar/sonar-server.js';\n");
    // A stand-in may not use product modules.
    write(changed, 'src/standins/probe-product.ts', "import { newRunId } from '../runs/run-id.js';\nexport const id = newRunId;\n");
    // A folder the module table does not know.
    write(changed, 'src/newthing/probe.ts', "import { packageRoot } from '../config/paths.js';\nexport const p = packageRoot;\n");
    // An import the cruiser cannot follow would escape every rule.
    write(changed, 'src/errors/probe-missing.ts', "export { nothing } from './no-such-file.js';\n");
    [clean, broken] = await Promise.all([depcruise(pristine), depcruise(changed)]);
  }, 120_000);

  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('passes on an unchanged copy of src/', () => {
    expect(clean.out).toContain('no dependency violations found');
    expect(clean.code).toBe(0);
  });

  it('fails on forbidden imports, naming each rule and what is allowed', () => {
    expect(broken.code).not.toBe(0);
    // err-long wraps comments: compare with the whitespace folded.
    const out = broken.out.replace(/\s+/g, ' ');
    expect(out).toContain('error boundary-config: src/config/probe-runs.ts → src/runs/keys.ts');
    expect(out).toContain('config/ may import nothing else in src/ (docs/architecture.md, module table)');
    expect(out).toContain('error src-not-test: src/logging/probe-test.ts → test/helpers/probe-helper.ts');
    expect(out).toMatch(/error no-circular: src\/git\/probe-(a|b)\.ts → /);
    expect(out).toContain('import cycles are not allowed in src/');
    expect(out).toContain('error standins-only-in-demo-and-wiring: src/deploy/probe-standin.ts → src/standins/sonar/sonar-server.ts');
    expect(out).toContain('only cli/, roles/, slipway.ts, main.ts, shutdown.ts, api-token.ts may import standins/');
    expect(out).toContain('error boundary-standins: src/standins/probe-product.ts → src/runs/run-id.ts');
    expect(out).toContain('error module-not-in-table: src/newthing/probe.ts → src/config/paths.ts');
  });

  it('reports the forbidden imports and nothing else', () => {
    const rules = broken.out.split('\n').flatMap((l) => /^\s*error ([\w-]+): (\S+)/.exec(l)?.slice(1, 3).join(' ') ?? []);
    // A cycle is reported once, from either of its files.
    expect(rules.map((r) => r.replace('probe-b.ts', 'probe-a.ts')).sort()).toEqual([
      'boundary-config src/config/probe-runs.ts',
      'boundary-standins src/standins/probe-product.ts',
      'module-not-in-table src/newthing/probe.ts',
      'no-circular src/git/probe-a.ts',
      'not-to-unresolvable-local src/errors/probe-missing.ts',
      'src-not-test src/logging/probe-test.ts',
      'standins-only-in-demo-and-wiring src/deploy/probe-standin.ts',
    ]);
  });
});
