// Test-only reference: the hand-written XML reader Slipway used before fast-xml-parser (src/reports/xml.ts).
// Kept so test/unit/reports/junit-differential.test.ts can check that both read generated reports alike.
/**
 * A small XML reader for test reports (JUnit): elements, attributes, text,
 * CDATA, comments, processing instructions and the five named entities plus
 * character references. No DTDs: a DOCTYPE with an internal subset is
 * refused (entity expansion is how XML bombs work), external ones are never
 * fetched. Malformed input throws XmlError with line and column.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: Array<XmlElement | string>;
}

export class XmlError extends Error {
  override readonly name = 'XmlError';
}

const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;
const ATTR = /\s+([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/y;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const MAX_DEPTH = 256;

export function parseXml(text: string): XmlElement {
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0; // BOM
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;

  const fail = (msg: string, at = i): never => {
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    throw new XmlError(`${msg} at line ${line}, column ${at - before.lastIndexOf('\n')}`);
  };
  const skipPast = (end: string, what: string): void => {
    const j = text.indexOf(end, i);
    if (j === -1) fail(`unterminated ${what}`);
    i = j + end.length;
  };
  const addText = (s: string): void => {
    const top = stack.at(-1);
    if (top) top.children.push(s);
    else if (s.trim()) fail('text outside the root element');
  };
  const decode = (s: string, at: number): string =>
    s.replace(/&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z]+);|&/g, (m, ref: string | undefined) => {
      if (!ref) return fail('bare "&" (write &amp;)', at);
      if (ref.startsWith('#')) {
        const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
        if (!(code > 0 && code <= 0x10ffff)) return fail(`invalid character reference ${m}`, at);
        return String.fromCodePoint(code);
      }
      return ENTITIES[ref] ?? fail(`unknown entity ${m}`, at);
    });

  while (i < text.length) {
    const lt = text.indexOf('<', i);
    if (lt !== i) {
      const end = lt === -1 ? text.length : lt;
      addText(decode(text.slice(i, end), i));
      i = end;
      continue;
    }
    if (text.startsWith('<?', i)) skipPast('?>', 'processing instruction');
    else if (text.startsWith('<!--', i)) skipPast('-->', 'comment');
    else if (text.startsWith('<![CDATA[', i)) {
      const j = text.indexOf(']]>', i);
      if (j === -1) fail('unterminated CDATA section');
      if (!stack.length) fail('CDATA outside the root element');
      addText(text.slice(i + 9, j));
      i = j + 3;
    } else if (text.startsWith('<!DOCTYPE', i)) {
      const close = text.indexOf('>', i);
      if (close === -1) fail('unterminated DOCTYPE');
      if (text.slice(i, close).includes('[')) fail('DOCTYPE with an internal subset is not accepted');
      i = close + 1;
    } else if (text.startsWith('</', i)) {
      NAME.lastIndex = i + 2;
      const name = NAME.exec(text)?.[0];
      const top = stack.pop();
      if (!name || !top || top.name !== name) fail(`unexpected closing tag </${name ?? ''}>${top ? ` (expected </${top.name}>)` : ''}`);
      i = NAME.lastIndex;
      while (/\s/.test(text[i] ?? '')) i++;
      if (text[i] !== '>') fail('malformed closing tag');
      i++;
    } else {
      NAME.lastIndex = i + 1;
      const name = NAME.exec(text)?.[0];
      if (!name) fail('malformed tag');
      const el: XmlElement = { name: name as string, attrs: {}, children: [] };
      i = NAME.lastIndex;
      for (;;) {
        ATTR.lastIndex = i;
        const a = ATTR.exec(text);
        if (!a) break;
        el.attrs[a[1] ?? ''] = decode(a[2] ?? a[3] ?? '', i);
        i = ATTR.lastIndex;
      }
      while (/\s/.test(text[i] ?? '')) i++;
      const selfClosing = text.startsWith('/>', i);
      if (!selfClosing && text[i] !== '>') fail(`malformed attributes in <${el.name}>`);
      i += selfClosing ? 2 : 1;
      const parent = stack.at(-1);
      if (parent) parent.children.push(el);
      else if (root) fail('more than one root element');
      else root = el;
      if (!selfClosing) {
        if (stack.length >= MAX_DEPTH) fail('elements nested too deeply');
        stack.push(el);
      }
    }
  }
  if (stack.length) fail(`unclosed <${stack.at(-1)?.name ?? ''}>`);
  if (!root) fail('no root element');
  return root as XmlElement;
}

export function childElements(el: XmlElement, name?: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== 'string' && (name === undefined || c.name === name));
}

export function textOf(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}
