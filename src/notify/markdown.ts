/**
 * Text from repositories (test names, failure messages, job reasons) goes into a GitLab note: it must
 * render as the text it is. Markdown punctuation is backslash-escaped, line breaks become spaces (a
 * table row is one line), and "@" gets a zero-width joiner so "@all" in a test message pings nobody.
 */
export function inline(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const cut = flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
  return cut.replace(/[\\`*_[\]<>|~#!]/g, '\\$&').replace(/@/g, '@\u200d');
}

/** A table cell that keeps what the reasons already contain (paths, quotes) readable: only what breaks a row or pings people. */
export function cell(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const cut = flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
  return cut.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/@/g, '@\u200d');
}
