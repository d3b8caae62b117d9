export type Json = Record<string, unknown>;

export function isPlainObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * GitLab's merge for `include` and `extends`: mappings merge key by key, anything else (lists,
 * scalars) is replaced by the later value. Inputs are already bounded in depth by the loader.
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over;
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = Object.hasOwn(base, k) ? deepMerge(base[k], v) : v;
  return out;
}
