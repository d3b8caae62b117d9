import { describe, expect, it } from 'vitest';
import { compilePipeline } from '../../../src/pipeline/compile.js';
import type { PipelineFile } from '../../../src/pipeline/pipeline-file.js';
import { configOnlyChange, deployConfigPaths, differsOnlyInEnvironmentVariables } from '../../../src/planning/config-only.js';
import { planConfigRelease } from '../../../src/planning/config-release-plan.js';
import { planPipeline } from '../../../src/planning/plan.js';
import type { PlanRequest } from '../../../src/planning/predefined-variables.js';

const noIncludes = { local: async () => null, project: async () => null };
const compile = async (text: string): Promise<PipelineFile> => {
  const r = await compilePipeline(text, { reader: noIncludes });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.file;
};

const PIPELINE = (opts: { template?: string; greeting?: string; replicas?: number } = {}) => `
stages: [test, build, deploy]
unit:
  stage: test
  image: busybox
  script: [sh test/run.sh]
build:
  image: shop/cart
deploy:
  ${opts.template ? `template: ${opts.template}` : ''}
  environments:
    pre:
      target: kubernetes
      port: 8080
      variables:
        GREETING: ${opts.greeting ?? 'hello'}
    production:
      target: kubernetes
      port: 8080
      ${opts.replicas ? `variables:\n        REPLICAS: ${opts.replicas}` : ''}
`;

const push = (over: Partial<PlanRequest> = {}): PlanRequest => ({
  kind: 'full',
  event: 'push',
  project: { id: 7, path: 'shop/cart', defaultBranch: 'main', webUrl: undefined },
  sha: 'b'.repeat(40),
  ref: 'main',
  before: 'a'.repeat(40),
  mergeRequest: undefined,
  actor: 'dev',
  ...over,
});

const decide = (file: PipelineFile, changedFiles: string[] | undefined, over: Partial<PlanRequest> = {}, pipelineFileConfigOnly?: boolean) =>
  configOnlyChange({ request: push(over), file, changedFiles, pipelineFile: '.slipway.yml', pipelineFileConfigOnly });

describe('a push that changes deploy config only builds nothing', () => {
  it('the deploy paths are the repository deploy/ on Kubernetes, or the template the pipeline file names', async () => {
    expect(deployConfigPaths(await compile(PIPELINE()))).toEqual(['deploy/']);
    expect(deployConfigPaths(await compile(PIPELINE({ template: 'k8s/app.yml' })))).toEqual(['k8s/app.yml']);
    expect(deployConfigPaths(await compile(PIPELINE({ template: './ops/k8s/' })))).toEqual(['ops/k8s/']);
    expect(deployConfigPaths(await compile(PIPELINE({ template: 'kubernetes' })))).toEqual([]);
  });

  it('only files under the deploy paths, on the default branch, by a push or merge', async () => {
    const file = await compile(PIPELINE());
    expect(decide(file, ['deploy/configmap.yml', 'deploy/deployment.yml'])).toEqual({
      configOnly: true,
      files: ['deploy/configmap.yml', 'deploy/deployment.yml'],
    });
    expect(decide(file, ['deploy/configmap.yml'], { event: 'merge' })).toMatchObject({ configOnly: true });
    expect(decide(file, ['deploy/configmap.yml', 'src/app.js'])).toEqual({ configOnly: false, why: 'src/app.js is not deploy config' });
    expect(decide(file, ['deployment.yml'])).toMatchObject({ configOnly: false });
    expect(decide(file, ['deploy/configmap.yml'], { ref: 'feature' })).toEqual({ configOnly: false, why: 'feature is not the default branch' });
    expect(decide(file, ['deploy/configmap.yml'], { event: 'mr' })).toMatchObject({ configOnly: false });
    expect(decide(file, undefined)).toEqual({ configOnly: false, why: 'the changed files are not known' });
    expect(decide(file, [])).toMatchObject({ configOnly: false });
  });

  it('the pipeline file counts when only its environments’ variables changed', async () => {
    const before = await compile(PIPELINE());
    const after = await compile(PIPELINE({ greeting: 'bonjour', replicas: 3 }));
    expect(differsOnlyInEnvironmentVariables(before, after)).toBe(true);
    expect(differsOnlyInEnvironmentVariables(before, await compile(PIPELINE().replace('image: shop/cart', 'image: shop/cart2')))).toBe(false);
    expect(differsOnlyInEnvironmentVariables(before, await compile(PIPELINE().replace('port: 8080', 'port: 8081')))).toBe(false);
    expect(decide(after, ['.slipway.yml', 'deploy/configmap.yml'], {}, true)).toMatchObject({ configOnly: true });
    expect(decide(after, ['.slipway.yml'], {}, false)).toEqual({ configOnly: false, why: '.slipway.yml is not deploy config' });
  });

  it('the plan leaves the image job out, saying why, and deploys without waiting for it', async () => {
    const file = await compile(PIPELINE());
    const reason =
      'only deploy config changed (deploy/configmap.yml): deploys the image sha256:abc built for the parent commit aaaaaaaa by run r1; nothing is built';
    const plan = planPipeline(file, push(), { reusedImage: { reason } });
    expect(plan.jobs.map((j) => [j.name, j.needs])).toEqual([
      ['unit', []],
      ['deploy:pre', ['unit']],
      ['deploy:production', ['deploy:pre', 'unit']],
    ]);
    expect(plan.skipped).toContainEqual({ name: 'image', reason });
    // Without it, the same push builds.
    expect(planPipeline(file, push()).jobs.map((j) => j.name)).toEqual(['unit', 'image', 'deploy:pre', 'deploy:production']);
  });
});

describe('a config release plans only its environment’s deploy', () => {
  const release = {
    service: 'cart',
    environment: 'production',
    revision: 4,
    fromRun: 'r1',
    releaseCreatedAt: '2025-06-01T10:00:00.000Z',
    image: { repository: 'reg/shop/cart', digest: `sha256:${'c'.repeat(64)}`, ref: `reg/shop/cart@sha256:${'c'.repeat(64)}` },
  };
  const request = push({ event: 'config', before: undefined, configRelease: release });

  it('no build, no tests, no other environment, no approval gate', async () => {
    const plan = planConfigRelease(await compile(PIPELINE()), request, release);
    expect(plan.jobs).toHaveLength(1);
    expect(plan.jobs[0]).toMatchObject({
      name: 'deploy:production',
      kind: 'deploy',
      needs: [],
      when: 'on_success',
      service: 'cart',
      environment: 'production',
    });
    expect(plan.jobs[0]).not.toHaveProperty('approval');
    expect(plan.skipped.map((s) => s.name).sort()).toEqual(['deploy:pre', 'image', 'unit']);
    expect(plan.skipped.find((s) => s.name === 'image')?.reason).toBe(
      `config release: redeploys the live image ${release.image.digest} of run r1; nothing is built`,
    );
  });

  it('an environment the file at that commit does not have plans nothing, saying so', async () => {
    const plan = planConfigRelease(await compile(PIPELINE()), request, { ...release, environment: 'staging' });
    expect(plan.jobs).toEqual([]);
    expect(plan.skipped).toEqual([{ name: 'deploy:staging', reason: 'config release: the pipeline file at bbbbbbbb has no environment staging' }]);
  });
});
