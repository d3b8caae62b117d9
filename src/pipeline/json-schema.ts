/**
 * pipelines/schema.json, generated from the same zod schemas the planner validates with, so
 * editors complete and check `.slipway.yml` exactly as Slipway will. Regenerate after changing
 * schema.ts: `npx tsx src/pipeline/json-schema.ts` (a test fails when the file is stale).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { jobSchema, topSchema } from './schema.js';

export function pipelineJsonSchema(): Record<string, unknown> {
  const opts = { io: 'input', unrepresentable: 'any' } as const;
  const top = z.toJSONSchema(topSchema, opts) as { properties: Record<string, unknown> };
  const job = z.toJSONSchema(jobSchema, opts) as Record<string, unknown>;
  delete job['$schema'];
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://slipway.dev/schema/slipway.json',
    title: '.slipway.yml',
    description: 'Slipway pipeline file: stages, jobs (GitLab CI style), build, sonar and deploy blocks. Any other top-level key is a job; keys starting with "." are hidden templates for extends.',
    type: 'object',
    properties: top.properties,
    patternProperties: { '^\\.': { type: 'object', description: 'hidden job: a template for extends, never run' } },
    additionalProperties: { ...job, description: 'a job: image and script (directly or through extends/default)' },
  };
}

export function schemaJsonText(): string {
  return `${JSON.stringify(pipelineJsonSchema(), null, 2)}\n`;
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] && path.resolve(process.argv[1]) === self) {
  const target = path.resolve(path.dirname(self), '../../pipelines/schema.json');
  writeFileSync(target, schemaJsonText());
  process.stdout.write(`wrote ${target}\n`);
}
