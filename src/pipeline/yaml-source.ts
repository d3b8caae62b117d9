import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import type { PipelineProblem } from './errors.js';
import { positionOf } from './positions.js';

export const MAX_FILE_BYTES = 1024 * 1024;
export const MAX_DEPTH = 32;
const MAX_ALIAS_COUNT = 100;
const MAX_NODES = 200_000;

/** One loaded YAML file: its data plus what is needed to point at places in it. */
export interface SourceFile {
  name: string;
  doc: Document;
  lc: LineCounter;
  data: Record<string, unknown>;
}

export type LoadResult = { ok: true; source: SourceFile } | { ok: false; problems: PipelineProblem[] };

export function problemAt(src: SourceFile, path: readonly PropertyKey[], message: string, keyOf?: string): PipelineProblem {
  const pos = positionOf(src.doc, path, src.lc, keyOf);
  return { file: src.name, line: pos.line, column: pos.column, message };
}

/**
 * Parse one YAML file with every guard the planner needs against hostile input: size, duplicate
 * and non-string keys, nesting depth, alias bombs. Pure and total: never throws, never expands an
 * alias bomb, walks the tree without recursion.
 */
export function loadYaml(text: string, name: string): LoadResult {
  const at = (line: number, column: number, message: string): PipelineProblem => ({ file: name, line, column, message });
  if (Buffer.byteLength(text, 'utf8') > MAX_FILE_BYTES) {
    return { ok: false, problems: [at(1, 1, `file is larger than ${MAX_FILE_BYTES} bytes`)] };
  }
  const lc = new LineCounter();
  let doc: Document;
  try {
    doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: false, strict: true, merge: false });
  } catch (err) {
    // The composer recurses per nesting level; absurd nesting overflows the stack.
    return { ok: false, problems: [at(1, 1, err instanceof RangeError ? `nested deeper than ${MAX_DEPTH} levels` : `cannot parse: ${String(err)}`)] };
  }
  if (doc.errors.length > 0) {
    return {
      ok: false,
      problems: doc.errors.slice(0, 50).map((e) => {
        const pos = lc.linePos(e.pos[0]);
        const message =
          e.code === 'DUPLICATE_KEY' ? 'duplicate key: map keys must be unique (each key once per mapping)' : (e.message.split('\n')[0] ?? e.message);
        return at(pos.line, pos.col, message);
      }),
    };
  }
  if (!isMap(doc.contents)) {
    return { ok: false, problems: [at(1, 1, 'the pipeline file must be a mapping of jobs and settings')] };
  }
  const problems = checkTree(doc, lc, name);
  if (problems.length > 0) return { ok: false, problems };
  let data: unknown;
  try {
    // maxAliasCount stops "billion laughs" documents before they expand.
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    return { ok: false, problems: [at(1, 1, `cannot expand the document: ${err instanceof Error ? err.message : String(err)}`)] };
  }
  return { ok: true, source: { name, doc, lc, data: data as Record<string, unknown> } };
}

/** Depth, key types and alias count, in one iterative walk. */
function checkTree(doc: Document, lc: LineCounter, name: string): PipelineProblem[] {
  const problems: PipelineProblem[] = [];
  const where = (node: unknown) => {
    const r = (node as { range?: [number, number, number] } | null)?.range;
    const p = lc.linePos(r?.[0] ?? 0);
    return { file: name, line: p.line, column: p.col };
  };
  let aliases = 0;
  let nodes = 0;
  const stack: Array<{ node: unknown; depth: number }> = [{ node: doc.contents, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (++nodes > MAX_NODES) {
      problems.push({ file: name, line: 1, column: 1, message: `more than ${MAX_NODES} values in one file` });
      break;
    }
    if (isAlias(node)) {
      if (++aliases > MAX_ALIAS_COUNT) {
        problems.push({ ...where(node), message: `more than ${MAX_ALIAS_COUNT} aliases: refusing a possible alias bomb` });
        break;
      }
      continue;
    }
    if (!isMap(node) && !isSeq(node)) continue;
    if (depth > MAX_DEPTH) {
      problems.push({ ...where(node), message: `nested deeper than ${MAX_DEPTH} levels` });
      break;
    }
    for (const item of node.items) {
      if (isPair(item)) {
        if (!isScalar(item.key) || typeof item.key.value !== 'string') {
          const shown = isScalar(item.key) ? ` (${String(item.key.value)}: quote it)` : '';
          problems.push({ ...where(item.key ?? node), message: `keys must be plain strings${shown}` });
        }
        stack.push({ node: item.value, depth: depth + 1 });
      } else stack.push({ node: item, depth: depth + 1 });
    }
  }
  return problems;
}
