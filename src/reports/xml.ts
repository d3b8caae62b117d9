import { XMLParser, XMLValidator, type EntityDecoderOptions } from 'fast-xml-parser';

/**
 * Test reports (JUnit) read with fast-xml-parser, bounded: its validator decides well-formedness
 * (with line and column), its parser builds the tree. Entities are ours to decode: the five
 * named ones and character references only. A DOCTYPE that declares entities is refused
 * (entity expansion is how XML bombs work); other DTD content is ignored, never fetched.
 * Elements nest at most MAX_DEPTH deep. Input size is bounded by the caller (junit.ts).
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: Array<XmlElement | string>;
}

export class XmlError extends Error {
  override readonly name = 'XmlError';
}

const MAX_DEPTH = 256;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

// Throws inside the parser; parseXml passes these on as they are (they name the problem).
class Refused extends XmlError {}

const decoder: EntityDecoderOptions = {
  setExternalEntities: () => undefined,
  addInputEntities: (entities) => {
    const names = Object.keys(entities);
    if (names.length > 0) throw new Refused(`DOCTYPE declaring entities (${names.slice(0, 5).join(', ')}) is not accepted`);
  },
  reset: () => undefined,
  setXmlVersion: () => undefined,
  decode: (s) =>
    s.includes('&')
      ? s.replace(/&(#x[0-9A-Fa-f]+|#[0-9]+|[A-Za-z][-A-Za-z0-9_.]*);|&/g, (m, ref: string | undefined) => {
          if (!ref) throw new Refused('bare "&" (write &amp;)');
          if (ref.startsWith('#')) {
            const code = ref[1] === 'x' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
            if (!(code > 0 && code <= 0x10ffff)) throw new Refused(`invalid character reference ${m}`);
            return String.fromCodePoint(code);
          }
          const named = ENTITIES[ref];
          if (named === undefined) throw new Refused(`unknown entity ${m}`);
          return named;
        })
      : s,
};

const TEXT = '#text'; // not a valid XML name, so no element can take its place
const ATTRS = ':@';

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  textNodeName: TEXT,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  processEntities: true,
  entityDecoder: decoder,
  maxNestedTags: MAX_DEPTH,
});

type Ordered = Array<Record<string, unknown>>;

export function parseXml(text: string): XmlElement {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  // The parser first: it stops at the first refusal (depth, entities) whatever else is wrong.
  let tree: Ordered | undefined;
  let parseError: Error | undefined;
  try {
    tree = parser.parse(body) as Ordered;
  } catch (err) {
    if (err instanceof Refused) throw new XmlError(err.message);
    if (err instanceof Error && /Maximum nested tags exceeded/.test(err.message)) throw new XmlError(`elements nested too deeply (more than ${MAX_DEPTH})`);
    parseError = err as Error;
  }
  // The parser is lenient (a truncated report parses); the validator is not.
  if (body.trim() === '') throw new XmlError('no root element');
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    const unclosed = unclosedElement(valid.err.msg);
    // The validator places an unclosed element at line 1; the problem is where the input ends.
    if (unclosed !== undefined) throw new XmlError(`unclosed <${unclosed}> at line ${body.split('\n').length}, column ${body.length - body.lastIndexOf('\n')}`);
    throw new XmlError(`${valid.err.msg.replace(/\.$/, '')} at line ${valid.err.line}${valid.err.col === undefined ? '' : `, column ${valid.err.col}`}`);
  }
  if (parseError || !tree) throw new XmlError(parseError?.message ?? 'no root element');
  const roots = tree.filter((n) => !(TEXT in n));
  if (roots.length === 0) throw new XmlError('no root element');
  if (roots.length > 1) throw new XmlError('more than one root element');
  return toElement(roots[0] as Record<string, unknown>);
}

/** The validator lists every open element when some are left unclosed; the innermost is named. */
function unclosedElement(msg: string): string | undefined {
  const open = /^Invalid '(\[.*\])' found\.$/s.exec(msg)?.[1];
  if (open === undefined) return undefined;
  try {
    const names = JSON.parse(open) as unknown;
    return Array.isArray(names) && typeof names.at(-1) === 'string' ? (names.at(-1) as string) : undefined;
  } catch {
    return undefined; // not the list we know: the validator's own message is used
  }
}

function toElement(node: Record<string, unknown>): XmlElement {
  const name = Object.keys(node).find((k) => k !== ATTRS) ?? '';
  const attrs: Record<string, string> = {};
  for (const [k, v] of Object.entries((node[ATTRS] ?? {}) as Record<string, unknown>)) attrs[k] = String(v);
  const children: Array<XmlElement | string> = [];
  for (const child of (node[name] ?? []) as Ordered) {
    if (TEXT in child) children.push(String(child[TEXT]));
    else children.push(toElement(child));
  }
  return { name, attrs, children };
}

export function childElements(el: XmlElement, name?: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== 'string' && (name === undefined || c.name === name));
}

export function textOf(el: XmlElement): string {
  return el.children.map((c) => (typeof c === 'string' ? c : textOf(c))).join('');
}
