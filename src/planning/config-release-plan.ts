import type { PipelineFile } from '../pipeline/pipeline-file.js';
import type { ConfigReleaseRequest } from '../triggers/types.js';
import { planPipeline, type PlanOptions } from './plan.js';
import type { Plan, PlannedJob } from './plan-types.js';
import type { PlanRequest } from './predefined-variables.js';

/**
 * Pure: the plan of a config release: the deploy of its one environment, with the live image
 * (no image job, no tests, no sonar, no other environment), from the pipeline file at the live
 * release's commit. The environment's `rules:` and approval do not apply: the release already went
 * through them when its code was deployed, and config releases are automatic (docs/decisions.md).
 * A file without that environment (or without a deploy block) plans nothing, saying why.
 */
export function planConfigRelease(file: PipelineFile, request: PlanRequest, release: ConfigReleaseRequest, opts: Omit<PlanOptions, 'reusedImage'> = {}): Plan {
  const { environment } = release;
  const name = `deploy:${environment}`;
  const env = file.deploy?.environments[environment];
  const others = (reason: string) => [
    ...file.jobs.map((j) => ({ name: j.name, reason })),
    ...(file.build
      ? [{ name: 'image', reason: `config release: redeploys the live image ${release.image.digest} of run ${release.fromRun}; nothing is built` }]
      : []),
    ...(file.sonar ? [{ name: 'sonar', reason }] : []),
    ...Object.keys(file.deploy?.environments ?? {})
      .filter((e) => e !== environment)
      .map((e) => ({ name: `deploy:${e}`, reason })),
  ];
  if (!file.deploy || !env) {
    const why = `config release: the pipeline file at ${request.sha.slice(0, 8)} has no environment ${environment}`;
    return { jobs: [], skipped: [{ name, reason: why }], stages: file.stages, includes: file.includes };
  }
  const onlyThis: PipelineFile = {
    ...file,
    jobs: [],
    sonar: undefined,
    build: file.build ? { ...file.build, rules: undefined } : undefined,
    deploy: { ...file.deploy, environments: { [environment]: { ...env, rules: undefined } } },
  };
  const planned = planPipeline(onlyThis, request, { ...opts, reusedImage: { reason: 'unused' } });
  const jobs = planned.jobs
    .filter((j): j is Extract<PlannedJob, { kind: 'deploy' }> => j.kind === 'deploy')
    .map((j) => {
      const { approval: _approval, ...rest } = j;
      return { ...rest, when: 'on_success' as const, needs: [], artifactsFrom: [] };
    });
  const why = `config release of ${environment} (config revision ${release.revision}): only its deploy runs`;
  return { jobs, skipped: [...others(why), ...planned.skipped.filter((s) => s.name !== 'image')], stages: file.stages, includes: file.includes };
}
