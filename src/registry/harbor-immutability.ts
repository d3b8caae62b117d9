import { z } from 'zod';
import { doublestarMatch } from './doublestar.js';

// Only the fields we read of Harbor's ImmutableRule (swagger: definitions.ImmutableRule).
const selector = z.object({ kind: z.string(), decoration: z.string(), pattern: z.string() });
export const immutableRuleSchema = z.object({
  id: z.number().optional(),
  disabled: z.boolean().optional(),
  action: z.string().optional(),
  tag_selectors: z.array(selector).default([]),
  scope_selectors: z
    .object({ repository: z.array(selector).default([]) })
    .partial()
    .default({}),
});
export type ImmutableRule = z.infer<typeof immutableRuleSchema>;

/**
 * Whether an enabled immutability rule covers repository:tag. `repository`
 * is the name inside the project (Harbor's rules do not include the
 * project). Selectors: tag decorations "matches"/"excludes", repository
 * "repoMatches"/"repoExcludes"; an unknown kind is treated as a match, so
 * we err towards "immutable" and never overwrite by guess.
 */
export function coveringRule(rules: readonly ImmutableRule[], repository: string, tag: string): ImmutableRule | undefined {
  return rules.find(
    (r) => !r.disabled && selectorsMatch(r.scope_selectors.repository ?? [], repository, 'repoExcludes') && selectorsMatch(r.tag_selectors, tag, 'excludes'),
  );
}

function selectorsMatch(selectors: ReadonlyArray<z.infer<typeof selector>>, value: string, excludes: string): boolean {
  return selectors.every((s) => {
    if (s.kind !== 'doublestar') return true;
    const hit = doublestarMatch(s.pattern, value);
    return s.decoration === excludes ? !hit : hit;
  });
}
