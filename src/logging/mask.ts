/**
 * Replaces every known secret in a text with [MASKED]. Besides the plain value it catches the
 * forms tools print credentials in: URL- and form-encoded, JSON-escaped, base64 (padded or not,
 * and at any byte offset inside a longer base64 string, as in `Basic base64(user:secret)`), each
 * line of a multi-line secret, and a secret split across lines (a line ending with the start of
 * one, a line starting with its end, a line that is a piece of its middle).
 */
export type Masker = (text: string) => string;

const MIN_SECRET = 4; // shorter values would destroy ordinary text
const MIN_FRAGMENT = 6; // a split piece this long is masked at a line boundary
const MASK = '[MASKED]';

/** Base64 of `s` at byte offsets 0, 1, 2 inside a longer input: the characters that do not depend on neighbours. */
function base64Cores(s: string): string[] {
  const bytes = Buffer.from(s);
  const out: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const padded = Buffer.concat([Buffer.alloc(offset), bytes]);
    const b64 = padded.toString('base64');
    const skip = offset === 0 ? 0 : 4; // the first group mixes in unknown bytes
    const whole = Math.floor(padded.length / 3) * 4; // groups made of the secret's bytes only
    const core = b64.slice(skip, whole);
    if (core.length >= MIN_FRAGMENT) out.push(core);
  }
  return out;
}

function formsOf(s: string): string[] {
  const forms = [s, encodeURIComponent(s), encodeURIComponent(s).replace(/%20/g, '+'), JSON.stringify(s).slice(1, -1)];
  const b64 = Buffer.from(s).toString('base64');
  forms.push(b64, b64.replace(/=+$/, ''), ...base64Cores(s));
  for (const line of s.split(/\r?\n/)) if (line.length >= MIN_SECRET) forms.push(line);
  return forms.filter((f) => f.length >= MIN_SECRET);
}

export function createMasker(secrets: readonly string[]): Masker {
  const forms = new Set<string>();
  for (const s of secrets) if (s.length >= MIN_SECRET) for (const f of formsOf(s)) forms.add(f);
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  if (sorted.length === 0) return (t) => t;
  const pattern = new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
  const splittable = sorted.filter((f) => f.length > MIN_FRAGMENT);
  return (text) => {
    const whole = text.replace(pattern, MASK);
    if (splittable.length === 0) return whole;
    return whole
      .split('\n')
      .map((line) => maskFragments(line, splittable))
      .join('\n');
  };
}

/** Pieces of a secret at the edges of one line (the rest of it is on a neighbouring line). */
function maskFragments(line: string, forms: readonly string[]): string {
  const body = line.replace(/\r$/, '');
  const cr = line.length - body.length;
  const trimmed = body.trim();
  if (trimmed.length >= MIN_FRAGMENT && forms.some((f) => f.includes(trimmed))) return body.replace(trimmed, MASK) + line.slice(body.length);
  let out = body;
  for (const f of forms) {
    // A line ending with a piece of f ends with MIN_FRAGMENT characters that f contains, and one
    // starting with a piece starts with them: one substring search rules most lines out at once
    // (this runs on every log line).
    if (out.length >= MIN_FRAGMENT && f.includes(out.slice(-MIN_FRAGMENT))) {
      for (let k = Math.min(f.length - 1, out.length); k >= MIN_FRAGMENT; k--) {
        if (out.endsWith(f.slice(0, k))) {
          out = `${out.slice(0, out.length - k)}${MASK}`;
          break;
        }
      }
    }
    if (out.length < MIN_FRAGMENT || !f.includes(out.slice(0, MIN_FRAGMENT))) continue;
    for (let k = Math.min(f.length - 1, out.length); k >= MIN_FRAGMENT; k--) {
      if (out.startsWith(f.slice(f.length - k))) {
        out = `${MASK}${out.slice(k)}`;
        break;
      }
    }
  }
  return cr > 0 ? out + line.slice(body.length) : out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
