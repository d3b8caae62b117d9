import { describe, expect, it } from 'vitest';
import { formatProblem } from '../../../src/pipeline/errors.js';
import { parsePipelineFile } from '../../../src/pipeline/parse.js';

const problemsOf = (text: string) => {
  const r = parsePipelineFile(text);
  if (r.ok) throw new Error('expected problems');
  return r.problems.map(formatProblem);
};

describe('.slipway.yml parsing', () => {
  it('reads jobs, build and deploy with defaults', () => {
    const r = parsePipelineFile(
      ['unit:', '  image: busybox', '  script: [make test]', 'build:', '  image: team/app', 'deploy:', '  environments:', '    pre: { port: 18080 }', ''].join(
        '\n',
      ),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.file.jobs).toEqual([{ name: 'unit', spec: { image: 'busybox', script: ['make test'] } }]);
    expect(r.file.build).toEqual({ image: 'team/app', dockerfile: 'Dockerfile' });
    expect(r.file.deploy?.environments['pre']).toEqual({ target: 'docker', port: 18080, health: '/' });
    expect(r.file.stages).toEqual(['test', 'build', 'deploy']);
  });

  it('names an unknown key with line, column and a hint', () => {
    expect(problemsOf('unit:\n  image: busybox\n  scirpt: [true]\n')).toEqual([
      ".slipway.yml:2:3: job 'unit': missing required key 'script'",
      ".slipway.yml:3:3: unknown key 'scirpt' in job 'unit' — did you mean 'script'?",
    ]);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(
      ['a:', '  image: x', '  script: true', 'b:', '  imgae: y', '  script: [ok]', 'deploy:', '  environments:', '    pre: { port: 80 }', ''].join('\n'),
    );
    expect(problems.length).toBeGreaterThanOrEqual(3);
    expect(problems.some((p) => p.startsWith('.slipway.yml:5:3:') && p.includes("did you mean 'image'"))).toBe(true);
    expect(problems.some((p) => p.startsWith('.slipway.yml:9:') && p.includes('1024'))).toBe(true);
  });

  it('rejects duplicate keys with their position', () => {
    expect(problemsOf('unit:\n  image: a\n  image: b\n  script: [x]\n')[0]).toMatch(/^\.slipway\.yml:3:3: .*[Uu]nique/);
  });

  it('rejects a YAML alias bomb without expanding it', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]',
      '',
    ].join('\n');
    const started = Date.now();
    const problems = problemsOf(bomb);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(problems[0]).toMatch(/alias/i);
  });

  it('rejects files over 1 MB', () => {
    expect(problemsOf(`# ${'x'.repeat(1024 * 1024)}\n`)[0]).toMatch(/larger than/);
  });

  it('rejects a stage that is not declared, pointing at it', () => {
    expect(problemsOf('stages: [test]\nunit:\n  stage: lint\n  image: a\n  script: [x]\n')).toEqual([
      ".slipway.yml:3:10: job 'unit': stage 'lint' is not in stages (test)",
    ]);
  });

  it('rejects a document that is not a mapping', () => {
    expect(problemsOf('- just\n- a list\n')[0]).toMatch(/must be a mapping/);
  });
});
