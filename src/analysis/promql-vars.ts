/**
 * `${NAME}` in a PromQL query, replaced by the variable's value as one PromQL string literal:
 * `{service=${SLIPWAY_SERVICE}}` becomes `{service="web"}`. Values come from the event (branch
 * names, commit data) and the environment's variables, so they are never pasted in raw: the value is
 * quoted and escaped as PromQL's string grammar reads it (Go's escapes: `\\`, `\"`, `\n`, …), so
 * `"} or vector(1) #` stays a string and cannot end the selector. A `${NAME}` written inside quotes
 * would nest a string in a string; it is an error, as is a name with no value.
 */
export class QueryVariableError extends Error {
  override readonly name = 'QueryVariableError';
}

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** A PromQL double-quoted string literal holding exactly `value`. */
export function promqlString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Offsets of the `${NAME}` references that stand inside a quoted PromQL string (", ' or `). */
function quotedReferences(query: string): { name: string; at: number }[] {
  const out: { name: string; at: number }[] = [];
  let quote: string | null = null;
  for (let i = 0; i < query.length; i++) {
    const c = query[i]!;
    if (quote) {
      if (c === '\\' && quote !== '`') i++;
      else if (c === quote) quote = null;
      else if (c === '$') {
        const m = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(query.slice(i));
        if (m) out.push({ name: m[1]!, at: i });
      }
    } else if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '#') {
      // A comment runs to the end of the line.
      while (i < query.length && query[i] !== '\n') i++;
    }
  }
  return out;
}

/** Problems with how a query uses variables, found without their values (for the pipeline file's validation). */
export function queryVariableProblems(query: string): string[] {
  return quotedReferences(query).map(
    ({ name }) => `\${${name}} is inside quotes: write it bare, like {service=\${${name}}}; Slipway inserts it as a quoted, escaped string`,
  );
}

/** The query with every `${NAME}` replaced by `promqlString(vars[NAME])`. */
export function substituteQuery(query: string, vars: Readonly<Record<string, string>>): string {
  const problems = queryVariableProblems(query);
  if (problems.length > 0) throw new QueryVariableError(problems.join('; '));
  return query.replace(REF, (_m, name: string) => {
    const v = Object.hasOwn(vars, name) ? vars[name] : undefined;
    if (v === undefined) throw new QueryVariableError(`\${${name}} has no value (known: ${Object.keys(vars).sort().join(', ') || 'none'})`);
    return promqlString(v);
  });
}

/** The URL with every `${NAME}` replaced by its URL-encoded value (so it cannot add a path, query or host). */
export function substituteUrl(url: string, vars: Readonly<Record<string, string>>): string {
  return url.replace(REF, (_m, name: string) => {
    const v = Object.hasOwn(vars, name) ? vars[name] : undefined;
    if (v === undefined) throw new QueryVariableError(`\${${name}} has no value (known: ${Object.keys(vars).sort().join(', ') || 'none'})`);
    return encodeURIComponent(v);
  });
}

/** A header value with `${NAME}` replaced as is; a value with a line break is refused (it would add a header). */
export function substituteHeader(value: string, vars: Readonly<Record<string, string>>): string {
  return value.replace(REF, (_m, name: string) => {
    const v = Object.hasOwn(vars, name) ? vars[name] : undefined;
    if (v === undefined) throw new QueryVariableError(`\${${name}} has no value`);
    if (/[\r\n\0]/.test(v)) throw new QueryVariableError(`\${${name}} holds a line break and cannot go into a header`);
    return v;
  });
}
