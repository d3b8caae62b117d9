import { describe, expect, it } from 'vitest';
import { prng } from '../../../bench/prng.js';
import { JunitError, MAX_REPORT_BYTES, parseJunit, type TestFailure, type TestSummary } from '../../../src/reports/junit.js';
import { parseXml, type XmlElement } from '../../../src/reports/xml.js';
import { parseXml as referenceParseXml } from '../../reference/xml-lite.js';

// Differential test: JUnit reports generated from random data (seeded, so a failure replays), written
// out as the report tools write them, must read back as the data says (the promise of parseJunit),
// and the XML tree must be the one the old hand-written reader (test/reference/) built.

type Outcome = { kind: 'passed' } | { kind: 'skipped' } | { kind: 'failure' | 'error'; message?: string; type?: string; body: string; cdata: boolean };
interface Case {
  name?: string;
  classname?: string;
  time?: number;
  outcome: Outcome;
}
interface Suite {
  name?: string;
  time?: number;
  cases: Case[];
  nested: Suite[];
  systemOut?: string;
}

const HOSTILE = [
  '&',
  '<',
  '>',
  '"',
  "'",
  ']]>',
  ']]',
  '&amp;',
  '&lt;',
  '<![CDATA[',
  '</testcase>',
  '\t',
  '\n',
  '  ',
  'é',
  'ß',
  '漢字',
  '😀',
  '\u00a0',
  'x',
  'assert',
  'expected: <2>',
  '#',
  ';',
  '=',
  '\u2028',
];

function generator(seed: number) {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const text = (max: number) => Array.from({ length: int(max) }, () => pick(HOSTILE)).join('');
  const maybe = <T>(p: number, f: () => T): T | undefined => (rnd() < p ? f() : undefined);
  const outcome = (): Outcome => {
    const r = rnd();
    if (r < 0.5) return { kind: 'passed' };
    if (r < 0.65) return { kind: 'skipped' };
    const o: Outcome = { kind: r < 0.85 ? 'failure' : 'error', body: text(8), cdata: rnd() < 0.5 };
    const message = maybe(0.6, () => text(5));
    const type = maybe(0.5, () => pick(['java.lang.AssertionError', 'AssertionError', '']));
    return { ...o, ...(message !== undefined ? { message } : {}), ...(type !== undefined ? { type } : {}) };
  };
  const testCase = (): Case => {
    const name = maybe(0.95, () => text(4));
    const classname = maybe(0.7, () => pick(['', 'com.acme.CartTest', text(3)]));
    const time = maybe(0.8, () => int(100_000) / 1000);
    return {
      ...(name !== undefined ? { name } : {}),
      ...(classname !== undefined ? { classname } : {}),
      ...(time !== undefined ? { time } : {}),
      outcome: outcome(),
    };
  };
  const suite = (depth: number): Suite => {
    const name = maybe(0.9, () => text(3));
    const time = maybe(0.5, () => int(100_000) / 1000);
    const systemOut = maybe(0.3, () => text(10));
    return {
      ...(name !== undefined ? { name } : {}),
      ...(time !== undefined ? { time } : {}),
      ...(systemOut !== undefined ? { systemOut } : {}),
      cases: Array.from({ length: int(8) }, testCase),
      nested: depth < 2 ? Array.from({ length: rnd() < 0.2 ? int(3) : 0 }, () => suite(depth + 1)) : [],
    };
  };
  return {
    rnd,
    int,
    pick,
    report: (): { suites: Suite[]; lone: boolean } => {
      const lone = rnd() < 0.3;
      return { lone, suites: lone ? [suite(0)] : Array.from({ length: int(4) }, () => suite(0)) };
    },
  };
}

// Serialising as report tools do, with the escapes varied: named entities, decimal and hex references.
function serialise(rnd: () => number, report: { suites: Suite[]; lone: boolean }): string {
  const esc = (s: string, attr: "'" | '"' | undefined) =>
    [...s]
      .map((c) => {
        const style = rnd();
        const ref = style < 0.3 ? `&#${c.codePointAt(0)};` : style < 0.5 ? `&#x${(c.codePointAt(0) ?? 0).toString(16)};` : undefined;
        if (c === '&') return ref ?? '&amp;';
        if (c === '<') return ref ?? '&lt;';
        if (c === '>') return ref ?? (rnd() < 0.5 ? '&gt;' : '>');
        if (c === attr) return ref ?? (c === '"' ? '&quot;' : '&apos;');
        if (attr && (c === '\n' || c === '\t')) return `&#${c.codePointAt(0)};`; // attribute values normalise raw whitespace
        return rnd() < 0.05 && c !== ' ' ? `&#x${(c.codePointAt(0) ?? 0).toString(16)};` : c;
      })
      .join('');
  const attrs = (o: Record<string, string | number | undefined>) =>
    Object.entries(o)
      .filter((e): e is [string, string | number] => e[1] !== undefined)
      .map(([k, v]) => {
        const q = rnd() < 0.8 ? '"' : "'";
        return ` ${k}=${q}${esc(String(v), q)}${q}`;
      })
      .join('');
  const cdata = (s: string) => `<![CDATA[${s.split(']]>').join(']]]]><![CDATA[>')}]]>`;
  const ws = () => (rnd() < 0.5 ? '\n  ' : '');
  const tc = (c: Case): string => {
    const head = `<testcase${attrs({ name: c.name, classname: c.classname, time: c.time })}`;
    const o = c.outcome;
    if (o.kind === 'passed') return rnd() < 0.5 ? `${head}/>` : `${head}>${ws()}</testcase>`;
    if (o.kind === 'skipped') return `${head}>${ws()}<skipped${attrs({ message: rnd() < 0.5 ? 'not yet' : undefined })}/></testcase>`;
    const body = o.cdata ? cdata(o.body) : esc(o.body, undefined);
    return `${head}>${ws()}<${o.kind}${attrs({ message: o.message, type: o.type })}>${body}</${o.kind}>${ws()}${rnd() < 0.2 ? `<system-out>${cdata('log')}</system-out>` : ''}</testcase>`;
  };
  const ts = (s: Suite): string =>
    `<testsuite${attrs({ name: s.name, time: s.time, tests: s.cases.length })}>${ws()}${rnd() < 0.2 ? '<!-- generated -->' : ''}${rnd() < 0.2 ? '<properties><property name="java.version" value="17"/></properties>' : ''}${s.cases.map((c) => ws() + tc(c)).join('')}${s.nested.map(ts).join('')}${s.systemOut !== undefined ? `<system-out>${esc(s.systemOut, undefined)}</system-out>` : ''}</testsuite>`;
  const prolog = rnd() < 0.5 ? '<?xml version="1.0" encoding="UTF-8"?>\n' : '';
  return (
    prolog +
    (report.lone ? ts(report.suites[0] as Suite) : `<testsuites${attrs({ name: 'all' })}>${report.suites.map(ts).join('\n')}</testsuites>`) +
    (rnd() < 0.3 ? '\n' : '')
  );
}

// What parseJunit promises, computed from the data: each case counted once (skipped, error, failure,
// passed), failures listed in document order with their message (the attribute, else the body's
// first line, else the type, else the kind), durations from the cases' times when any has one.
function expected(report: { suites: Suite[]; lone: boolean }): TestSummary {
  const out: TestSummary = { passed: 0, failed: 0, skipped: 0, errors: 0, failures: [], durationMs: 0 };
  let caseTime = 0;
  let sawCaseTime = false;
  const visit = (s: Suite, outer: string) => {
    const suiteName = s.name ?? outer;
    for (const c of s.cases) {
      if (c.time !== undefined) {
        caseTime += c.time;
        sawCaseTime = true;
      }
      const o = c.outcome;
      if (o.kind === 'passed') out.passed++;
      else if (o.kind === 'skipped') out.skipped++;
      else {
        if (o.kind === 'error') out.errors++;
        else out.failed++;
        if (out.failures.length < 100) {
          const message = (o.message?.trim() || o.body.trim().split('\n')[0]?.trim() || o.type || o.kind).slice(0, 1000);
          const f: TestFailure = { suite: suiteName || c.classname || '', name: c.name ?? '(unnamed)', kind: o.kind, message };
          if (c.classname) f.classname = c.classname;
          out.failures.push(f);
        }
      }
    }
    // Nested suites come after the cases in the serialised order.
    for (const n of s.nested) visit(n, suiteName);
  };
  for (const s of report.suites) visit(s, '');
  const suiteTime = report.suites.reduce((t, s) => t + (s.time ?? 0), 0);
  out.durationMs = Math.round((sawCaseTime ? caseTime : suiteTime) * 1000);
  return out;
}

// Text split around a comment is one text node in fast-xml-parser, two in the old reader; both
// mean the same text, so adjacent text nodes are joined before the trees are compared.
function joinText(el: XmlElement): XmlElement {
  const children: XmlElement['children'] = [];
  for (const c of el.children) {
    const last = children.at(-1);
    if (typeof c === 'string' && typeof last === 'string') children[children.length - 1] = last + c;
    else children.push(typeof c === 'string' ? c : joinText(c));
  }
  return { ...el, children };
}

const clean = (s: TestSummary) => ({ ...s, failures: s.failures.map((f) => ({ ...f })) });

describe('parseJunit on generated reports', () => {
  it('reads 1,500 generated reports as the data that made them, and builds the same tree as the old reader', () => {
    const g = generator(0x7e57);
    for (let i = 0; i < 1500; i++) {
      const report = g.report();
      const xml = serialise(g.rnd, report);
      const want = expected(report);
      const got = parseJunit(xml, `gen-${i}.xml`);
      // Floating sums may differ in the last bit between orders; the rounding to ms is the promise.
      expect({ ...clean(got), durationMs: 0 }, `report ${i}:\n${xml}`).toEqual({ ...want, durationMs: 0 });
      expect(Math.abs(got.durationMs - want.durationMs), `report ${i}`).toBeLessThanOrEqual(1);
      expect(joinText(parseXml(xml)), `report ${i}:\n${xml}`).toEqual(joinText(referenceParseXml(xml)));
    }
  });

  // Mutations that make a report malformed: both readers refuse every one of them.
  const breakers: Array<[string, (xml: string, int: (n: number) => number) => string]> = [
    ['truncated', (x, int) => x.slice(0, x.lastIndexOf('</') - int(20))],
    ['a closing tag dropped', (x) => x.replace(/<\/testsuite>(?!.*<\/testsuite>)/s, '')],
    ['a bare ampersand in text', (x) => x.replace(/<\/testsuite>/, ' & </testsuite>')],
    ['a bare ampersand in an attribute', (x) => x.replace(/<testsuite /, '<testsuite a="x & y" ')],
    ['an unknown entity', (x) => x.replace(/<\/testsuite>/, '&nbsp;</testsuite>')],
    ['a second root', (x) => `${x}<testsuite></testsuite>`],
    ['an entity-declaring DOCTYPE', (x) => x.replace(/<testsuite/, '<!DOCTYPE t [<!ENTITY a "aaaaaaaaaa">]><testsuite')],
    ['text after the root', (x) => `${x}trailing`],
    ['an attribute without quotes', (x) => x.replace(/<testsuite /, '<testsuite a=1 ')],
  ];
  it('refuses 1,000 generated malformed reports, as the old reader did', () => {
    const g = generator(0xbad);
    let tried = 0;
    for (let i = 0; i < 1200 && tried < 1000; i++) {
      const xml = serialise(g.rnd, g.report());
      const [what, mutate] = g.pick(breakers);
      const bad = mutate(xml, g.int);
      if (bad === xml || !/<\/?testsuite/.test(xml)) continue;
      expect(() => referenceParseXml(bad), `${what}: ${bad}`).toThrow();
      expect(() => parseJunit(bad, 'bad.xml'), `${what}: ${bad}`).toThrow(JunitError);
      tried++;
    }
    expect(tried).toBe(1000);
  });
});

describe('parseJunit refuses hostile reports with an error naming the problem', () => {
  const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i || ''};`.repeat(10)}">`).join('')}]><testsuite name="&lol9;"/>`;
  it.each([
    ['a billion laughs', laughs, /DOCTYPE declaring entities \(lol\) is not accepted/],
    [
      'a quadratic blow-up',
      `<!DOCTYPE t [<!ENTITY a "${'a'.repeat(5000)}">]><testsuite name="${'&a;'.repeat(5000)}"/>`,
      /DOCTYPE declaring entities \(a\) is not accepted/,
    ],
    ['an external entity', '<!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]><testsuite name="&x;"/>', /not well-formed XML/],
    ['a deep document', `<testsuites>${'<testsuite>'.repeat(10_000)}${'</testsuite>'.repeat(10_000)}</testsuites>`, /nested too deeply/],
    ['a deep unclosed document', `<testsuites>${'<testsuite>'.repeat(100_000)}`, /nested too deeply/],
    ['an over-large document', `<testsuite>${' '.repeat(MAX_REPORT_BYTES)}</testsuite>`, /larger than 20971520 bytes/],
  ])('%s', (_what, xml, why) => {
    const started = Date.now();
    expect(() => parseJunit(xml, 'hostile.xml')).toThrow(why);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reads a report with an external DOCTYPE (never fetched) and character references', () => {
    const s = parseJunit(
      '<!DOCTYPE testsuite SYSTEM "http://example.invalid/junit.dtd"><testsuite name="s"><testcase name="a&#x26;b"><failure message="&#60;&#x1F600;&#62;"/></testcase></testsuite>',
    );
    expect(s.failures).toEqual([{ suite: 's', name: 'a&b', kind: 'failure', message: '<😀>' }]);
  });
});
