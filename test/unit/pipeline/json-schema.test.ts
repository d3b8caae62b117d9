import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { pipelineJsonSchema, schemaJsonText } from '../../../src/pipeline/json-schema.js';

describe('pipelines/schema.json', () => {
  it('is generated from the current zod schemas (run: npx tsx src/pipeline/json-schema.ts)', () => {
    expect(readFileSync(new URL('../../../pipelines/schema.json', import.meta.url), 'utf8')).toBe(schemaJsonText());
  });

  it('describes each setting the validator rejects as not supported yet, so an editor says so while it is typed', () => {
    type Node = { properties: Record<string, Node>; additionalProperties: Node; anyOf: Node[]; items: Node; description?: string };
    const schema = pipelineJsonSchema() as unknown as Node;
    const job = schema.additionalProperties;
    expect(job.properties['artifacts']?.properties['name']?.description).toBe(
      'Not supported yet: artifacts cannot be downloaded, so they have no archive name; remove name.',
    );
    const changes = job.properties['rules']?.items.properties['changes'];
    expect(changes?.anyOf[1]?.properties['compare_to']?.description).toMatch(/^Not supported yet: a push compares with its previous commit/);
    const environment = schema.properties['deploy']?.properties['environments']?.additionalProperties;
    expect(environment?.properties['resource_group']?.description).toMatch(/^Not supported yet: a deploy holds its environment's lock/);
    // rolling (with its pace), blue-green and canary work now: no note on the strategy itself.
    expect(environment?.properties['strategy']?.description ?? '').not.toContain('not supported');
    const step = environment?.properties['strategy']?.anyOf[3]?.properties['canary']?.properties['steps']?.items;
    // Every canary step works now, `pause: {}` (until approved) too.
    expect(JSON.stringify(step)).not.toContain('not supported');
    expect(step?.anyOf[1]?.properties['pause']).toBeDefined();
    // Settings Slipway acts on carry no such note.
    expect(JSON.stringify(environment?.properties['port'])).not.toContain('not supported');
    expect(JSON.stringify(environment?.properties['target'])).not.toContain('not supported');
    expect(JSON.stringify(job.properties['artifacts']?.properties['expire_in'])).not.toContain('not supported');
  });
});
