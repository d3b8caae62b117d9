/*
 * Scenario tests: each directory holds pipeline.yml, event.json and expected.json (the plan, or
 * the problems). Included files live under files/ (same repository) and projects/<group>/<name>/.
 * `UPDATE_SCENARIOS=1 npx vitest run test/scenarios` rewrites expected.json: review the diff.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compilePipeline } from '../../src/pipeline/compile.js';
import { formatProblem } from '../../src/pipeline/errors.js';
import type { IncludeReader } from '../../src/pipeline/include.js';
import { planPipeline } from '../../src/planning/plan.js';
import type { PlanRequest } from '../../src/planning/predefined-variables.js';

const ROOT = path.dirname(new URL(import.meta.url).pathname);

interface EventFile {
  event: PlanRequest['event'];
  ref?: string;
  mr?: { iid: number; sourceBranch: string; targetBranch: string; fork?: boolean };
  changedFiles?: string[];
  repoFiles?: string[];
  variables?: Record<string, string>;
}

function requestOf(e: EventFile): PlanRequest {
  const kind = e.event === 'merge' || e.event === 'manual' ? 'full' : e.event === 'tag' ? 'release' : 'ci';
  return {
    kind,
    event: e.event,
    project: { id: 42, path: 'shop/cart-api', defaultBranch: 'main', webUrl: undefined },
    sha: '0123456789abcdef0123456789abcdef01234567',
    ref: e.ref ?? (e.mr ? e.mr.sourceBranch : 'main'),
    before: undefined,
    mergeRequest: e.mr
      ? { iid: e.mr.iid, title: 'change', sourceBranch: e.mr.sourceBranch, targetBranch: e.mr.targetBranch, fork: e.mr.fork ?? false }
      : undefined,
    actor: 'dev',
  };
}

function readerFor(dir: string): IncludeReader {
  const read = (p: string) => {
    const full = path.join(dir, p);
    return Promise.resolve(full.startsWith(dir) && existsSync(full) ? readFileSync(full, 'utf8') : null);
  };
  return {
    local: (p) => read(path.join('files', p)),
    project: (project, ref, p) => read(path.join('projects', project, ref ?? 'HEAD', p)),
  };
}

/** The parts of a plan a scenario pins down: order, needs, when, and the fields that differ from defaults. */
function summarize(plan: ReturnType<typeof planPipeline>): unknown {
  return {
    jobs: plan.jobs.map((j) => {
      const out: Record<string, unknown> = { name: j.name, kind: j.kind, stage: j.stage, needs: j.needs, when: j.when };
      if (j.allowFailure !== false) out['allowFailure'] = j.allowFailure;
      if (j.retry.max > 0) out['retry'] = j.retry;
      if (j.interruptible) out['interruptible'] = true;
      if (j.resourceGroup !== undefined) out['resourceGroup'] = j.resourceGroup;
      if (j.artifactsFrom.length > 0) out['artifactsFrom'] = j.artifactsFrom;
      if (j.kind === 'script') {
        out['image'] = j.image;
        out['script'] = j.script;
        if (Object.keys(j.variables).length > 0) out['variables'] = j.variables;
        if (j.cache.length > 0) out['cache'] = j.cache;
        if (j.artifacts) out['artifacts'] = j.artifacts;
        out['timeoutMs'] = j.timeoutMs;
      }
      if (j.kind === 'image') out['build'] = j.build;
      if (j.kind === 'sonar') Object.assign(out, { projectKey: j.projectKey, gate: j.gate });
      if (j.kind === 'deploy')
        Object.assign(
          out,
          { environment: j.environment, service: j.service, approval: j.approval ?? null, clusters: j.clusters, strategy: j.strategy },
          j.clusterWeights ? { clusterWeights: j.clusterWeights } : {},
          j.onClusterFailure ? { onClusterFailure: j.onClusterFailure } : {},
          j.analysis ? { analysis: j.analysis } : {},
          j.prePromotionAnalysis ? { prePromotionAnalysis: j.prePromotionAnalysis } : {},
        );
      return out;
    }),
    skipped: plan.skipped,
  };
}

const cases = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe('pipeline scenarios', () => {
  it('has at least 40 scenarios', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });
  for (const name of cases) {
    it(name, async () => {
      const dir = path.join(ROOT, name);
      const text = readFileSync(path.join(dir, 'pipeline.yml'), 'utf8');
      const event = JSON.parse(readFileSync(path.join(dir, 'event.json'), 'utf8')) as EventFile;
      const compiled = await compilePipeline(text, { fileName: '.slipway.yml', reader: readerFor(dir) });
      const actual = compiled.ok
        ? summarize(
            planPipeline(compiled.file, requestOf(event), {
              pipelineId: 'run-1',
              changedFiles: event.changedFiles,
              repoFiles: event.repoFiles,
              variables: event.variables,
            }),
          )
        : { problems: compiled.problems.map(formatProblem) };
      const expectedPath = path.join(dir, 'expected.json');
      if (process.env['UPDATE_SCENARIOS'] === '1') {
        writeFileSync(expectedPath, `${JSON.stringify(actual, null, 2)}\n`);
      }
      expect(actual).toEqual(JSON.parse(readFileSync(expectedPath, 'utf8')));
    });
  }
});
