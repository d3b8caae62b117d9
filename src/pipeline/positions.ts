import { isMap, isScalar, isSeq, type LineCounter, type Document, type Node, type Pair } from 'yaml';

export interface Position {
  line: number;
  column: number;
}

function pairOf(node: unknown, key: PropertyKey): Pair<unknown, unknown> | undefined {
  if (!isMap(node)) return undefined;
  return node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(key)) as Pair<unknown, unknown> | undefined;
}

function startOf(node: unknown, lc: LineCounter): Position | undefined {
  const range = (node as Node | null)?.range;
  if (!range) return undefined;
  const { line, col } = lc.linePos(range[0]);
  return { line, column: col };
}

/**
 * Where a path into the document starts in the source. `keyOf` points at the key itself
 * (for "unknown key" problems) instead of its value.
 */
export function positionOf(doc: Document, path: readonly PropertyKey[], lc: LineCounter, keyOf?: string): Position {
  let node: unknown = doc.contents;
  let best = startOf(node, lc) ?? { line: 1, column: 1 };
  for (const seg of path) {
    if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
    } else {
      const pair = pairOf(node, seg);
      if (!pair) break;
      node = pair.value ?? pair.key;
      best = startOf(pair.value, lc) ?? startOf(pair.key, lc) ?? best;
      continue;
    }
    best = startOf(node, lc) ?? best;
  }
  if (keyOf !== undefined) {
    const pair = pairOf(node, keyOf);
    if (pair) best = startOf(pair.key, lc) ?? best;
  }
  return best;
}
