import { describe, expect, it } from 'vitest';
import { compilePipeline } from '../../../src/pipeline/compile.js';
import { formatProblem } from '../../../src/pipeline/errors.js';

const noIncludes = { local: async () => null, project: async () => null };

describe('every problem at once', () => {
  it('a job with a bad key still has its needs and stage checked', async () => {
    const r = await compilePipeline('stages: [test]\nunit:\n  image: a\n  scirpt: [x]\n  stage: tset\n  needs: [compile]\n', { reader: noIncludes });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const lines = r.problems.map(formatProblem);
    expect(lines).toContain(".slipway.yml:4:3: unknown key 'scirpt' in job 'unit' — did you mean 'script'?");
    expect(lines.some((l) => l.startsWith('.slipway.yml:6:11:') && l.includes("needs 'compile'"))).toBe(true);
    expect(lines.some((l) => l.startsWith('.slipway.yml:5:10:') && l.includes("stage 'tset'") && l.includes("did you mean 'test'"))).toBe(true);
  });
});
