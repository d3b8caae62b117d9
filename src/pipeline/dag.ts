/** A cycle in a needs graph as a closed path (a → b → a), or null. Iterative: no deep recursion. */
export function findCycle(graph: ReadonlyMap<string, readonly string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>();
  for (const start of graph.keys()) {
    if (state.has(start)) continue;
    const path: string[] = [];
    const stack: Array<{ node: string; next: number }> = [{ node: start, next: 0 }];
    state.set(start, 'open');
    path.push(start);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const edges = graph.get(top.node) ?? [];
      if (top.next >= edges.length) {
        state.set(top.node, 'done');
        stack.pop();
        path.pop();
        continue;
      }
      const to = edges[top.next++]!;
      const s = state.get(to);
      if (s === 'open') return [...path.slice(path.indexOf(to)), to];
      if (s === undefined) {
        state.set(to, 'open');
        path.push(to);
        stack.push({ node: to, next: 0 });
      }
    }
  }
  return null;
}

/**
 * Kahn's algorithm, stable: among jobs whose needs are met, the one with the smallest `rank`
 * (stage, then file order) comes first. Assumes no cycle (compile rejects them).
 */
export function topoOrder<T>(items: readonly T[], nameOf: (t: T) => string, needsOf: (t: T) => readonly string[], rank: (t: T) => number): T[] {
  const byName = new Map(items.map((t) => [nameOf(t), t]));
  const pending = new Map(items.map((t) => [nameOf(t), new Set(needsOf(t).filter((n) => byName.has(n)))]));
  const out: T[] = [];
  while (pending.size > 0) {
    let best: T | undefined;
    for (const [name, needs] of pending) {
      if (needs.size > 0) continue;
      const t = byName.get(name)!;
      if (best === undefined || rank(t) < rank(best)) best = t;
    }
    if (best === undefined) break; // a cycle slipped through: keep what is orderable
    const name = nameOf(best);
    pending.delete(name);
    out.push(best);
    for (const needs of pending.values()) needs.delete(name);
  }
  return out;
}
