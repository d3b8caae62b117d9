import { z } from 'zod';

/**
 * `.slipway.yml`, the part the walking skeleton runs: script jobs (GitLab CI style), a `build`
 * block for the image and a `deploy` block for environments. Strict objects, so a typo is an
 * error with a hint rather than a silently ignored key.
 */
const duration = z.union([
  z.number().int().positive(),
  z.string().regex(/^\d+\s*(s|m|h)$/),
], { error: "must be a duration like '90s', '10m' or '1h', or a number of seconds" });

const variables = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'variable names are letters, digits and _'), z.union([z.string(), z.number(), z.boolean()]));

export const jobSchema = z.strictObject({
  stage: z.string().min(1).optional(),
  image: z.string().min(1),
  script: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: 'must be a command or a list of commands' }),
  variables: variables.optional(),
  timeout: duration.optional(),
});

export const buildSchema = z.strictObject({
  image: z.string().regex(/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/, 'an image repository like group/service (lowercase)'),
  dockerfile: z.string().min(1).default('Dockerfile'),
  args: z.record(z.string(), z.string()).optional(),
});

export const environmentSchema = z.strictObject({
  target: z.literal('docker').default('docker'),
  port: z.number().int().min(1024).max(65534),
  health: z.string().startsWith('/').default('/'),
  timeout: duration.optional(),
  variables: variables.optional(),
});

export const deploySchema = z.strictObject({
  service: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/, 'a service name: lowercase letters, digits and -').optional(),
  template: z.string().min(1).default('docker-service'),
  environments: z.record(z.string().regex(/^[a-z0-9-]+$/, 'environment names are lowercase letters, digits and -'), environmentSchema),
});

export const RESERVED_KEYS = ['stages', 'variables', 'build', 'deploy'] as const;

export const topSchema = z.object({
  stages: z.array(z.string().min(1)).min(1).optional(),
  variables: variables.optional(),
  build: buildSchema.optional(),
  deploy: deploySchema.optional(),
});

export type JobSpec = z.infer<typeof jobSchema>;
export type BuildSpec = z.infer<typeof buildSchema>;
export type DeploySpec = z.infer<typeof deploySchema>;
export type EnvironmentSpec = z.infer<typeof environmentSchema>;

export interface PipelineFile {
  stages: string[];
  variables: Record<string, string>;
  jobs: Array<{ name: string; spec: JobSpec }>;
  build: BuildSpec | undefined;
  deploy: DeploySpec | undefined;
}
