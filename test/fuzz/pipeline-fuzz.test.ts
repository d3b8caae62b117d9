/*
 * Fuzz: 10,000+ generated and mutated pipeline files through compile and plan. Deterministic (a
 * seeded PRNG), bounded (no file over 64 KB here: size limits have their own tests). Properties:
 * nothing throws, every document finishes under 1 s, and a failure always carries positioned
 * problems.
 */
import { describe, expect, it } from 'vitest';
import { compilePipeline } from '../../src/pipeline/compile.js';
import { NO_INCLUDES } from '../../src/pipeline/include.js';
import { prng } from '../../bench/prng.js';
import { planPipeline } from '../../src/planning/plan.js';
import type { PlanRequest } from '../../src/planning/predefined-variables.js';

const SEEDS = [
  'stages: [test, build, deploy]\nunit:\n  image: alpine\n  script: [make test]\n  needs: []\n  rules:\n    - if: $SLIPWAY_EVENT == "mr" && $X =~ /^a.*b$/\n      changes: [src/**/*.ts]\n',
  'build:\n  image: team/app\n  tags: [latest]\ndeploy:\n  environments:\n    pre: { port: 18080 }\n    production: { port: 28080, approval: true }\n',
  '.base: &b\n  image: alpine\n  retry: { max: 2, when: [script_failure] }\na:\n  <<: *b\n  extends: .base\n  script: [x]\nb:\n  extends: [.base]\n  needs: [a]\n  script: [y]\n  cache: { key: { files: [x.lock] }, paths: [v/] }\n',
  'variables: { A: "1", B: { value: x } }\ndefault: { image: alpine, timeout: 1h 30m }\nj:\n  script: |\n    echo $A\n  artifacts: { paths: [d/], reports: { junit: r.xml } }\n  allow_failure: { exit_codes: [1] }\n',
  'include: [{ template: node }]\nsonar: { project_key: k, gate: advisory }\n',
];
const TOKENS = [
  '\n',
  ' ',
  '  ',
  ':',
  '- ',
  '[',
  ']',
  '{',
  '}',
  '&a ',
  '*a',
  '"',
  "'",
  '#',
  '|',
  '>',
  '!!str ',
  '? ',
  ',',
  '$X',
  '/(a+)+$/',
  '==',
  '=~',
  '&&',
  '||',
  '(',
  ')',
  'needs: [',
  'extends: ',
  'rules:\n  - if: ',
  '\t',
  '%YAML 1.2\n',
  '---\n',
  '...',
  '<<: ',
  '\u0000',
  '\ud83d',
  'é',
  '0x1',
  '~',
  'null',
  'true',
];
const KEYS = [
  'stages',
  'variables',
  'image',
  'script',
  'needs',
  'rules',
  'if',
  'changes',
  'exists',
  'when',
  'extends',
  'include',
  'cache',
  'artifacts',
  'retry',
  'timeout',
  'build',
  'deploy',
  'environments',
  'sonar',
  'default',
  'allow_failure',
  'interruptible',
  'resource_group',
  'stage',
];

function mutate(text: string, rnd: () => number): string {
  let t = text;
  const n = 1 + Math.floor(rnd() * 6);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rnd() * (t.length + 1));
    const r = rnd();
    if (r < 0.35) t = t.slice(0, at) + TOKENS[Math.floor(rnd() * TOKENS.length)]! + t.slice(at);
    else if (r < 0.55) t = t.slice(0, at) + t.slice(at + 1 + Math.floor(rnd() * 8));
    else if (r < 0.7) t = `${t.slice(0, at) + KEYS[Math.floor(rnd() * KEYS.length)]!}: ${t.slice(at)}`;
    else if (r < 0.85) {
      const from = Math.floor(rnd() * t.length);
      t = t.slice(0, at) + t.slice(from, from + Math.floor(rnd() * 40)) + t.slice(at);
    } else t = t.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 128)) + t.slice(at);
  }
  return t.slice(0, 64 * 1024);
}

/** A structurally valid-looking document built from parts: deep nests, wide needs graphs, long rules. */
function generate(rnd: () => number): string {
  const jobs = 1 + Math.floor(rnd() * 8);
  const lines: string[] = [];
  if (rnd() < 0.5) lines.push('stages: [build, test, deploy]');
  for (let j = 0; j < jobs; j++) {
    lines.push(`${rnd() < 0.2 ? '.' : ''}j${j}:`);
    if (rnd() < 0.8) lines.push('  image: alpine');
    if (rnd() < 0.8) lines.push('  script: [run]');
    if (rnd() < 0.4) lines.push(`  needs: [${Array.from({ length: Math.floor(rnd() * 4) }, () => `j${Math.floor(rnd() * jobs)}`).join(', ')}]`);
    if (rnd() < 0.3)
      lines.push(`  extends: [${Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => `${rnd() < 0.5 ? '.' : ''}j${Math.floor(rnd() * jobs)}`).join(', ')}]`);
    if (rnd() < 0.3) lines.push(`  stage: ${['build', 'test', 'deploy', 'nope'][Math.floor(rnd() * 4)]}`);
    if (rnd() < 0.4) {
      const expr = Array.from(
        { length: 1 + Math.floor(rnd() * 20) },
        () => ['$A == "x"', '$B =~ /^(a|b)*c{1,3}$/i', '($C)', '$D != null', '$E !~ /x.*y.*z/'][Math.floor(rnd() * 5)],
      ).join(rnd() < 0.5 ? ' && ' : ' || ');
      lines.push('  rules:', `    - if: '${expr}'`, `      changes: ["src/**/{a,b}*.ts"]`);
    }
  }
  if (rnd() < 0.1) lines.push(`deep: ${'['.repeat(20 + Math.floor(rnd() * 200))}`);
  return `${lines.join('\n')}\n`;
}

const REQUEST: PlanRequest = {
  kind: 'ci',
  event: 'mr',
  project: { id: 1, path: 'g/p', defaultBranch: 'main', webUrl: undefined },
  sha: 'a'.repeat(40),
  ref: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac',
  before: undefined,
  mergeRequest: { iid: 1, title: 't', sourceBranch: 'f', targetBranch: 'main', fork: false },
  actor: undefined,
};

describe('pipeline fuzz', () => {
  it('compiles and plans 10,000 generated and mutated documents without a crash or a slow one', async () => {
    const rnd = prng(0x5eed);
    let slowest = 0;
    let valid = 0;
    const total = 10_000;
    for (let i = 0; i < total; i++) {
      const kind = rnd();
      const text = kind < 0.45 ? mutate(SEEDS[Math.floor(rnd() * SEEDS.length)]!, rnd) : kind < 0.9 ? generate(rnd) : mutate(generate(rnd), rnd);
      const started = performance.now();
      const result = await compilePipeline(text, { reader: NO_INCLUDES });
      if (result.ok) {
        valid++;
        const plan = planPipeline(result.file, REQUEST, { changedFiles: ['src/a/b.ts', 'README.md'], variables: { B: 'ababc', E: 'x'.repeat(5000) } });
        expect(Array.isArray(plan.jobs)).toBe(true);
      } else {
        expect(result.problems.length).toBeGreaterThan(0);
        for (const p of result.problems) expect(p.line).toBeGreaterThanOrEqual(1);
      }
      const took = performance.now() - started;
      slowest = Math.max(slowest, took);
      if (took > 1000) throw new Error(`document ${i} took ${took.toFixed(0)} ms:\n${text.slice(0, 2000)}`);
    }
    expect(valid).toBeGreaterThan(100); // the generator must reach the planner, not only the parser
    expect(slowest).toBeLessThan(1000);
  }, 120_000);
});
