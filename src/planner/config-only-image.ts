import type { JobContext } from '../jobs/context.js';
import type { PipelineFile } from '../pipeline/pipeline-file.js';
import { configOnlyChange, differsOnlyInEnvironmentVariables } from '../planning/config-only.js';
import type { ImageRecord, RunRecord } from '../runs/types.js';

/** How far back among the project's runs the parent commit's image is looked for. */
const RUNS_SEARCHED = 200;

/**
 * For a change of deploy config only (`planning/config-only.ts`): the image built for the parent
 * commit (the diff base), which this run deploys instead of building, and the reason the plan
 * shows. Undefined when the change is not config-only or no run recorded an image of the parent
 * commit for the same repository (then the image is built as usual, and the log says why).
 * `compileAt` compiles the pipeline file at another commit (null when it cannot), to tell a change
 * of the environments' `variables:` from any other change of the pipeline file.
 */
export async function reusableImageFor(
  ctx: Pick<JobContext, 'store' | 'config'>,
  run: RunRecord,
  file: PipelineFile,
  changedFiles: readonly string[] | undefined,
  base: string | undefined,
  pipelineFile: string,
  compileAt: (sha: string) => Promise<PipelineFile | null>,
): Promise<{ image: ImageRecord; reason: string } | undefined> {
  if (base === undefined || !file.build) return undefined;
  let pipelineFileConfigOnly: boolean | undefined;
  if (changedFiles?.includes(pipelineFile)) {
    const before = await compileAt(base);
    pipelineFileConfigOnly = before !== null && differsOnlyInEnvironmentVariables(before, file);
  }
  const decision = configOnlyChange({ request: run.request, file, changedFiles, pipelineFile, pipelineFileConfigOnly });
  if (!decision.configOnly) return undefined;
  const repository = `${ctx.config.registry.host}/${file.build.image}`;
  const runs = await ctx.store.list({ projectId: run.request.project.id, limit: RUNS_SEARCHED });
  const parent = runs.find((r) => r.id !== run.id && r.request.sha === base && r.image?.repository === repository && r.image.digest !== '');
  const files = decision.files.map((f) => (f === pipelineFile ? `${f} (environments' variables)` : f)).join(', ');
  if (!parent?.image) {
    await ctx.store.appendLog(run.id, 'plan', 'system', `only deploy config changed (${files}), but no run recorded an image of ${base.slice(0, 8)}: building`);
    return undefined;
  }
  const { image } = parent;
  return {
    image,
    reason: `only deploy config changed (${files}): deploys the image ${image.digest} built for the parent commit ${base.slice(0, 8)} by run ${parent.id}; nothing is built`,
  };
}
