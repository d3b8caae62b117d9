import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { schemaJsonText } from '../../../src/pipeline/json-schema.js';

describe('pipelines/schema.json', () => {
  it('is generated from the current zod schemas (run: npx tsx src/pipeline/json-schema.ts)', () => {
    expect(readFileSync(new URL('../../../pipelines/schema.json', import.meta.url), 'utf8')).toBe(schemaJsonText());
  });
});
