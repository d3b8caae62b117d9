/**
 * Replaces every known secret in a text with [MASKED]. Also catches the base64 and URL-encoded
 * forms, because tools print credentials that way (Authorization headers, URLs).
 */
export type Masker = (text: string) => string;

export function createMasker(secrets: readonly string[]): Masker {
  const forms = new Set<string>();
  for (const s of secrets) {
    if (s.length < 4) continue; // too short to mask without destroying ordinary text
    forms.add(s);
    forms.add(encodeURIComponent(s));
    const b64 = Buffer.from(s).toString('base64');
    forms.add(b64);
    forms.add(b64.replace(/=+$/, ''));
  }
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  if (sorted.length === 0) return (t) => t;
  const pattern = new RegExp(sorted.map(escapeRegExp).join('|'), 'g');
  return (text) => text.replace(pattern, '[MASKED]');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
