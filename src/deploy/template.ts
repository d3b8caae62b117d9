import { LineCounter, parseDocument, visit } from 'yaml';
import { z } from 'zod';
import type { PipelineProblem } from '../pipeline/errors.js';

/** What a deploy template for the docker-host target may say about a release. */
export const serviceTemplateSchema = z.strictObject({
  command: z.array(z.string()).min(1).optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.union([z.string(), z.number(), z.boolean()]).transform(String)).optional(),
});

export type ServiceTemplate = z.infer<typeof serviceTemplateSchema>;

export type RenderResult = { ok: true; spec: ServiceTemplate } | { ok: false; problems: PipelineProblem[] };

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Pure: fill ${NAME} placeholders in the template's string values, then validate. Values are
 * substituted into parsed YAML scalars, never into YAML text, so a value cannot add keys.
 * An unknown placeholder is an error with its line and column.
 */
export function renderTemplate(text: string, values: Record<string, string>, fileName: string): RenderResult {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, strict: true });
  const problems: PipelineProblem[] = doc.errors.map((e) => {
    const pos = lc.linePos(e.pos[0]);
    return { file: fileName, line: pos.line, column: pos.col, message: e.message.split('\n')[0] ?? e.message };
  });
  if (problems.length > 0) return { ok: false, problems };
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string') return;
      node.value = node.value.replace(PLACEHOLDER, (whole, name: string) => {
        const v = values[name];
        if (v !== undefined) return v;
        const pos = lc.linePos(node.range?.[0] ?? 0);
        problems.push({ file: fileName, line: pos.line, column: pos.col, message: `unknown value ${whole} (known: ${Object.keys(values).sort().join(', ')})` });
        return whole;
      });
    },
  });
  if (problems.length > 0) return { ok: false, problems };
  const parsed = serviceTemplateSchema.safeParse(doc.toJS({ maxAliasCount: 50 }) ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((i) => ({ file: fileName, line: 1, column: 1, message: `${i.path.join('.') || 'template'}: ${i.message}` })),
    };
  }
  return { ok: true, spec: parsed.data };
}
