import { z } from 'zod';
import type { PipelineRequest } from '../triggers/types.js';
import { schemaOf } from './schema-of.js';
import type { DeploymentRecord, ImageRecord, JobPhase, JobRecord, LogLine, PhaseStatus, PromotionRecord, RunPhase, RunRecord, SonarRecord } from './types.js';

// One schema per field of a run hash (`core`, `status`, `jobOrder`, `job:<name>`, `image`, `sonar`,
// `deployments`; `plan` is in plan-schema.ts) and for a log line. Objects strip keys they do not
// know, so a record written by a newer Slipway still reads. schemaOf<T>() keeps each schema equal
// to the type in types.ts.

/** A `T | undefined` property: JSON.stringify drops the key, so it is absent when read back. */
const orUndefined = <S extends z.ZodType>(s: S) => s.optional().transform((v) => v);

const request = schemaOf<PipelineRequest>()(
  z.object({
    kind: z.enum(['full', 'ci', 'release']),
    event: z.enum(['merge', 'mr', 'push', 'tag', 'manual', 'config']),
    project: z.object({ id: z.number(), path: z.string(), defaultBranch: z.string(), webUrl: orUndefined(z.string()) }),
    sha: z.string(),
    ref: z.string(),
    before: orUndefined(z.string()),
    mergeRequest: orUndefined(z.object({ iid: z.number(), title: z.string(), sourceBranch: z.string(), targetBranch: z.string(), fork: z.boolean() })),
    actor: orUndefined(z.string()),
    refProtected: z.boolean().exactOptional(),
    configRelease: z
      .object({
        service: z.string(),
        environment: z.string(),
        revision: z.number(),
        fromRun: z.string(),
        releaseCreatedAt: z.string(),
        image: z.object({ repository: z.string(), digest: z.string(), ref: z.string() }),
      })
      .exactOptional(),
  }),
);

/** Field `core`: written once when the run is accepted. */
export type RunCore = Pick<RunRecord, 'id' | 'request' | 'deliveryId' | 'createdAt'>;
export const coreSchema = schemaOf<RunCore>()(z.object({ id: z.string(), request, deliveryId: z.string(), createdAt: z.string() }));

export const runStatusSchema = schemaOf<PhaseStatus<RunPhase>>()(
  z.object({
    phase: z.enum(['received', 'planning', 'running', 'succeeded', 'failed', 'canceled', 'skipped']),
    reason: z.string(),
    at: z.string(),
  }),
);

/** Field `jobOrder`: the plan's job names in order; each job is its own field `job:<name>`. */
export const jobOrderSchema = z.array(z.string());

export const jobSchema = schemaOf<JobRecord>()(
  z.object({
    name: z.string(),
    kind: z.enum(['script', 'image', 'sonar', 'deploy']),
    stage: z.string(),
    status: schemaOf<PhaseStatus<JobPhase>>()(
      z.object({
        phase: z.enum(['pending', 'queued', 'running', 'success', 'failed', 'skipped', 'canceled', 'manual']),
        reason: z.string(),
        at: z.string(),
      }),
    ),
    startedAt: orUndefined(z.string()),
    finishedAt: orUndefined(z.string()),
    exitCode: orUndefined(z.number()),
    allowedFailure: z.boolean().exactOptional(),
    attempt: z.number().exactOptional(),
    supersededBy: z.string().exactOptional(),
    artifacts: z
      .object({
        reference: z.string(),
        repository: z.string(),
        tag: z.string(),
        digest: z.string(),
        blobDigest: z.string(),
        files: z.number(),
        bytes: z.number(),
        expiresAt: z.string().exactOptional(),
      })
      .exactOptional(),
    tests: z
      .object({
        passed: z.number(),
        failed: z.number(),
        skipped: z.number(),
        errors: z.number(),
        failures: z.array(z.object({ suite: z.string(), name: z.string(), message: z.string() })),
      })
      .exactOptional(),
    coverage: z.number().exactOptional(),
    cache: z.array(z.string()).exactOptional(),
    gitlabDeployment: z.object({ id: z.number(), status: z.enum(['running', 'success', 'failed', 'canceled']) }).exactOptional(),
    promotion: schemaOf<PromotionRecord>()(
      z.object({
        registry: z.string(),
        host: z.string(),
        repository: z.string(),
        digest: z.string(),
        ref: z.string(),
        from: z.string(),
        copied: z.array(z.string()),
        mounted: z.array(z.string()),
        skipped: z.array(z.string()),
        copiedBytes: z.number(),
        attempts: z.number(),
        at: z.string(),
      }),
    ).exactOptional(),
  }),
);

export const imageSchema = schemaOf<ImageRecord>()(z.object({ repository: z.string(), tags: z.array(z.string()), digest: z.string(), ref: z.string() }));

export const sonarSchema = schemaOf<SonarRecord>()(
  z.object({
    status: z.enum(['OK', 'WARN', 'ERROR', 'NONE']),
    outcome: z.enum(['pass', 'warn', 'fail']),
    dashboardUrl: z.string(),
  }),
);

export const deploymentsSchema = schemaOf<DeploymentRecord[]>()(
  z.array(
    z.object({
      environment: z.string(),
      target: z.string(),
      url: z.string(),
      image: z.string(),
      at: z.string(),
      outcome: z.enum(['deployed', 'partial', 'failed']).exactOptional(),
      clusters: z
        .array(
          z.object({
            name: z.string(),
            state: z.enum(['healthy', 'rolled-back', 'failed', 'unreachable', 'not-applied']),
            reason: z.string().exactOptional(),
            wave: z.number(),
            replicas: z.number().exactOptional(),
          }),
        )
        .exactOptional(),
    }),
  ),
);

export const logLineSchema = schemaOf<LogLine>()(
  z.object({
    t: z.string(),
    job: z.string(),
    stream: z.enum(['stdout', 'stderr', 'system']),
    line: z.string(),
  }),
);
