import express, { type ErrorRequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { GitlabClient } from '../gitlab/client.js';
import type { Logger } from '../logging/logger.js';
import type { IncludeReader } from '../pipeline/include.js';
import type { PlanRequest } from '../planning/predefined-variables.js';
import { classify } from '../triggers/classify.js';
import { isIgnored } from '../triggers/types.js';
import { parseEvent } from '../webhooks/events.js';

export interface PlanApiDeps {
  gitlab: GitlabClient;
  logger: Logger;
  /** Name of the pipeline file at the repository root. */
  pipelineFile?: string;
}

const byRef = z.strictObject({
  project: z.strictObject({ id: z.number().int().positive(), path: z.string().min(1), defaultBranch: z.string().min(1).default('main') }),
  ref: z.string().min(1).max(255),
  sha: z
    .string()
    .regex(/^[0-9a-f]{40}$/)
    .optional(),
  event: z.enum(['merge', 'mr', 'push', 'tag', 'manual']),
  mergeRequest: z
    .strictObject({ iid: z.number().int().positive(), sourceBranch: z.string(), targetBranch: z.string(), fork: z.boolean().default(false) })
    .optional(),
  changedFiles: z.array(z.string()).max(100_000).optional(),
  /** An uncommitted pipeline file to plan instead of the one in the repository (editor preview). */
  pipeline: z
    .string()
    .max(1024 * 1024)
    .optional(),
});
const byEvent = z.strictObject({
  gitlabEvent: z.string().min(1),
  payload: z.unknown(),
  changedFiles: z.array(z.string()).max(100_000).optional(),
  pipeline: z
    .string()
    .max(1024 * 1024)
    .optional(),
});

/**
 * The JSON body parser's own errors (malformed JSON 400, too large 413) as clear JSON answers;
 * without this they reach the app's last handler and come back as "500 internal error".
 */
export function jsonBodyErrors(): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    const e = err as { type?: unknown; status?: unknown; message?: unknown };
    if (typeof e.type !== 'string' || typeof e.status !== 'number' || e.status < 400 || e.status >= 500) {
      next(err);
      return;
    }
    const error =
      e.type === 'entity.parse.failed'
        ? `the body is not valid JSON: ${String(e.message)}`
        : e.type === 'entity.too.large'
          ? 'the body is too large'
          : String(e.message);
    res.status(e.status).json({ error });
  };
}

/**
 * POST /api/plan — a dry run: which jobs would run for an event, in order, and the rule that
 * skipped every other job. Nothing is recorded or queued. Body: either a GitLab delivery
 * `{ gitlabEvent: "Merge Request Hook", payload }`, or `{ project: {id, path}, ref, event, sha? }`.
 * Answers 200 {plan, lines}, 200 {ignored}, 422 {problems} for an invalid pipeline file, 404 when
 * there is no pipeline file, 400 for a bad request, 502 when GitLab cannot be read.
 */
export function createPlanApi(deps: PlanApiDeps): Router {
  const fileName = deps.pipelineFile ?? '.slipway.yml';
  const router = express.Router();
  let preview: Promise<typeof import('./plan-preview.js')> | undefined;
  const loadPreview = () => {
    preview ??= import('./plan-preview.js').catch((err: unknown) => {
      preview = undefined; // tried again by the next request
      throw err;
    });
    return preview;
  };
  router.post('/api/plan', express.json({ limit: '5mb' }), async (req, res) => {
    const body: unknown = req.body;
    let request: PlanRequest;
    let changedFiles: string[] | undefined;
    let inline: string | undefined;
    const asEvent = byEvent.safeParse(body);
    const asRef = asEvent.success ? undefined : byRef.safeParse(body);
    if (asEvent.success) {
      const parsed = parseEvent(asEvent.data.gitlabEvent, asEvent.data.payload);
      if (!parsed.ok) {
        res.status(400).json({ error: 'unknownEvent' in parsed ? `not a GitLab event we handle: ${parsed.unknownEvent}` : parsed.invalid });
        return;
      }
      const decision = classify(parsed.event);
      if (isIgnored(decision)) {
        res.json({ ignored: decision.ignored });
        return;
      }
      request = decision;
      changedFiles = asEvent.data.changedFiles;
      inline = asEvent.data.pipeline;
    } else if (asRef?.success) {
      const d = asRef.data;
      request = {
        kind: d.event === 'merge' || d.event === 'manual' ? 'full' : d.event === 'tag' ? 'release' : 'ci',
        event: d.event,
        project: { id: d.project.id, path: d.project.path, defaultBranch: d.project.defaultBranch, webUrl: undefined },
        sha: d.sha ?? d.ref,
        ref: d.ref,
        before: undefined,
        mergeRequest: d.mergeRequest ? { ...d.mergeRequest, title: '' } : undefined,
        actor: undefined,
      };
      changedFiles = d.changedFiles;
      inline = d.pipeline;
    } else {
      res.status(400).json({
        error: 'body must be { gitlabEvent, payload } or { project: { id, path }, ref, event }',
        detail: asRef?.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'body'}: ${i.message}`),
      });
      return;
    }

    const { compilePipeline, describePlan, formatProblem, planPipeline } = await loadPreview();
    const { id } = request.project;
    const at = request.sha; // a sha, or the ref itself for by-ref requests without one
    const reader: IncludeReader = {
      local: (p) => deps.gitlab.readFile(id, p, at),
      project: (projectPath, ref, p) => deps.gitlab.readProjectFile(projectPath, p, ref),
    };
    try {
      const text = inline ?? (await deps.gitlab.readFile(id, fileName, at));
      if (text === null) {
        res.status(404).json({ error: `no ${fileName} at ${at.slice(0, 40)} in project ${request.project.path}` });
        return;
      }
      const compiled = await compilePipeline(text, { fileName, reader });
      if (!compiled.ok) {
        res.status(422).json({ problems: compiled.problems, lines: compiled.problems.map(formatProblem) });
        return;
      }
      const plan = planPipeline(compiled.file, request, { changedFiles });
      res.json({ request: { event: request.event, ref: request.ref, sha: request.sha, project: request.project.path }, plan, lines: describePlan(plan) });
    } catch (err) {
      deps.logger.warn({ err, project: id }, 'plan preview could not read from GitLab');
      res.status(502).json({ error: `cannot read from GitLab: ${err instanceof Error ? err.message : String(err)}` });
    }
  });
  router.use(jsonBodyErrors());
  return router;
}
