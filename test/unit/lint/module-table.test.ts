import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

// The lint rules (.dependency-cruiser.cjs) are generated from MAY_IMPORT; the docs' module table is
// what people read. These tests keep the two the same, so a rule never differs from the docs.
const root = path.resolve(import.meta.dirname, '..', '..', '..');
type MayImport = Record<string, readonly string[] | 'everything'>;
const { MAY_IMPORT } = createRequire(import.meta.url)(path.join(root, '.dependency-cruiser.cjs')) as { MAY_IMPORT: MayImport };

/** The "## Modules" table of docs/architecture.md as module → allowed imports, one key per named module. */
function tableOfDocs(): MayImport {
  const doc = readFileSync(path.join(root, 'docs', 'architecture.md'), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('Modules\n'));
  if (!section) throw new Error('docs/architecture.md has no "## Modules" section');
  // Notes in parentheses (`slipway server`, plan types) are not module names.
  const names = (cell: string): string[] => [...cell.replace(/\([^)]*\)/g, '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
  const table: Record<string, readonly string[] | 'everything'> = {};
  for (const line of section.split('\n').filter((l) => l.startsWith('| `'))) {
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    if (cells.length !== 3) throw new Error(`module table row without 3 cells: ${line}`);
    const [modules, , mayImport] = cells as [string, string, string];
    const allowed = mayImport === 'everything' ? 'everything' : mayImport === '—' ? [] : names(mayImport);
    // A "may import" cell that is neither everything, — nor a list of `names` would silently mean "nothing".
    if (allowed !== 'everything' && allowed.length === 0 && mayImport !== '—') throw new Error(`unreadable "may import" cell: ${line}`);
    for (const module of names(modules)) table[module] = allowed;
  }
  return table;
}

const sorted = (table: MayImport): MayImport => Object.fromEntries(Object.entries(table).map(([m, a]) => [m, a === 'everything' ? a : [...a].sort()]));

describe('module boundaries: docs/architecture.md and .dependency-cruiser.cjs', () => {
  it('MAY_IMPORT in the lint config is the module table of the docs', () => {
    const docs = tableOfDocs();
    expect(Object.keys(docs).length).toBeGreaterThan(20);
    expect(sorted(MAY_IMPORT)).toEqual(sorted(docs));
  });

  it('names only modules that have a row', () => {
    const modules = Object.keys(MAY_IMPORT);
    const unknown = Object.entries(MAY_IMPORT).flatMap(([m, a]) => (a === 'everything' ? [] : a.filter((x) => !modules.includes(x)).map((x) => `${m} → ${x}`)));
    expect(unknown).toEqual([]);
  });

  it('every folder and file directly under src/ has a row', () => {
    const entries = readdirSync(path.join(root, 'src'), { withFileTypes: true }).map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
    expect(entries.filter((e) => !(e in MAY_IMPORT))).toEqual([]);
  });
});
