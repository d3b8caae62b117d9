/**
 * pipelines/schema.json, generated from the same zod schemas the planner validates with, so
 * editors complete and check `.slipway.yml` exactly as Slipway will. Regenerate after changing
 * schema.ts: `npx tsx src/pipeline/json-schema.ts` (a test fails when the file is stale).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { NOT_YET } from './not-yet.js';
import { jobSchema, topSchema } from './schema.js';

export function pipelineJsonSchema(): Record<string, unknown> {
  const opts = { io: 'input', unrepresentable: 'any' } as const;
  const top = z.toJSONSchema(topSchema, opts) as { properties: Record<string, unknown> };
  const job = z.toJSONSchema(jobSchema, opts) as Record<string, unknown>;
  delete job['$schema'];
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://slipway.dev/schema/slipway.json',
    title: '.slipway.yml',
    description:
      'Slipway pipeline file: stages, jobs (GitLab CI style), build, sonar and deploy blocks. Any other top-level key is a job; keys starting with "." are hidden templates for extends.',
    type: 'object',
    properties: top.properties,
    patternProperties: { '^\\.': { type: 'object', description: 'hidden job: a template for extends, never run' } },
    additionalProperties: { ...job, description: 'a job: image and script (directly or through extends/default)' },
  };
  describeNotYet(schema);
  return schema;
}

type SchemaNode = Record<string, unknown>;
const isNode = (v: unknown): v is SchemaNode => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Each NOT_YET entry becomes the description of the settings it names, so an editor shows "not
 * supported yet: …" while typing them (the validator still rejects them). A path that names no
 * property of the schema throws: a stale entry fails the schema's freshness test.
 */
function describeNotYet(schema: SchemaNode): void {
  // Per schema node: each reason with the values it covers ([] = the setting whatever its value).
  const notes = new Map<SchemaNode, Map<string, string[]>>();
  for (const entry of NOT_YET) {
    for (const path of typeof entry.path === 'string' ? [entry.path] : entry.path) {
      const nodes = path.split('.').reduce<SchemaNode[]>((at, seg) => at.flatMap((n) => step(n, seg)), [schema]);
      if (nodes.length === 0) throw new Error(`NOT_YET path ${path} names nothing in the schema`);
      for (const n of nodes) {
        const byWhy = notes.get(n) ?? new Map<string, string[]>();
        byWhy.set(entry.why, [...(byWhy.get(entry.why) ?? []), ...(entry.value ? [entry.value.name] : [])]);
        notes.set(n, byWhy);
      }
    }
  }
  for (const [node, byWhy] of notes) {
    const said = [...byWhy].map(([why, values]) =>
      values.length === 0 ? `Not supported yet: ${why}.` : `${values.join(' and ')} ${values.length > 1 ? 'are' : 'is'} not supported yet: ${why}.`,
    );
    node['description'] = [typeof node['description'] === 'string' ? node['description'] : undefined, ...said].filter(Boolean).join(' ');
  }
}

/** The schema nodes one path segment leads to from `node` ('<job>': a job; '*': any key or list item), through anyOf. */
function step(node: SchemaNode, seg: string): SchemaNode[] {
  const alternatives = Array.isArray(node['anyOf']) ? node['anyOf'].filter(isNode) : [];
  if (alternatives.length > 0) return alternatives.flatMap((a) => step(a, seg));
  if (seg === '<job>' || seg === '*') return [node['additionalProperties'], node['items']].filter(isNode);
  const properties = node['properties'];
  return isNode(properties) && isNode(properties[seg]) ? [properties[seg]] : [];
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
