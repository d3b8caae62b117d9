import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCoverage } from '../../../src/reports/coverage.js';
import { JunitError, parseJunit, readJunitReports } from '../../../src/reports/junit.js';

// Shaped like Maven Surefire's TEST-*.xml.
const surefire = `<?xml version="1.0" encoding="UTF-8"?>
<!-- generated -->
<testsuite name="com.acme.CartTest" tests="4" failures="1" errors="1" skipped="1" time="1.5">
  <properties><property name="java.version" value="17"/></properties>
  <testcase name="adds" classname="com.acme.CartTest" time="0.25"/>
  <testcase name="removes" classname="com.acme.CartTest" time="0.5">
    <failure message="expected: &lt;2&gt; but was: &lt;3&gt;" type="org.opentest4j.AssertionFailedError"><![CDATA[org.opentest4j.AssertionFailedError: expected: <2> but was: <3>
	at com.acme.CartTest.removes(CartTest.java:31)]]></failure>
  </testcase>
  <testcase name="totals" classname="com.acme.CartTest" time="0.75"><error type="java.lang.NullPointerException">java.lang.NullPointerException: price
	at com.acme.Cart.total(Cart.java:12)</error></testcase>
  <testcase name="discount" classname="com.acme.CartTest" time="0"><skipped message="not yet"/></testcase>
  <system-out>log &amp; more</system-out>
</testsuite>`;

// Shaped like jest-junit / pytest: a <testsuites> root with several suites.
const jest = `<testsuites name="jest tests" tests="3" failures="1" time="2.0">
  <testsuite name="api" tests="2"><testcase classname="api GET /" name="api GET / answers 200" time="1.2"/>
    <testcase classname="api POST /" name="api POST / validates" time="0.3"><failure>Error: expect(received).toBe(expected)&#10;Expected: 400</failure></testcase></testsuite>
  <testsuite name="ui"><testcase classname="ui" name="renders" time="0.01"/></testsuite>
</testsuites>`;

describe('parseJunit', () => {
  it('counts a Surefire report and lists the failing tests with their messages', () => {
    expect(parseJunit(surefire, 'TEST-CartTest.xml')).toEqual({
      passed: 1,
      failed: 1,
      skipped: 1,
      errors: 1,
      durationMs: 1500,
      failures: [
        { suite: 'com.acme.CartTest', name: 'removes', classname: 'com.acme.CartTest', kind: 'failure', message: 'expected: <2> but was: <3>' },
        { suite: 'com.acme.CartTest', name: 'totals', classname: 'com.acme.CartTest', kind: 'error', message: 'java.lang.NullPointerException: price' },
      ],
    });
  });

  it('reads a testsuites root, taking the first line of the body when there is no message attribute', () => {
    const s = parseJunit(jest);
    expect(s).toMatchObject({ passed: 2, failed: 1, skipped: 0, errors: 0, durationMs: 1510 });
    expect(s.failures).toEqual([
      { suite: 'api', name: 'api POST / validates', classname: 'api POST /', kind: 'failure', message: 'Error: expect(received).toBe(expected)' },
    ]);
  });

  it.each([
    ['truncated', '<testsuite name="x"><testcase name="a">', /unclosed <testcase> at line 1/],
    [
      'mismatched',
      '<testsuite></testcase>',
      /Expected closing tag 'testsuite' \(opened in line 1, col 1\) instead of closing tag 'testcase' at line 1, column 12/,
    ],
    ['bare ampersand', '<testsuite name="a & b"/>', /bare "&" \(write &amp;\)/],
    ['unknown entity', '<testsuite>&nbsp;</testsuite>', /unknown entity &nbsp;/],
    ['not junit', '<html><body/></html>', /root element is <html>, expected <testsuites> or <testsuite>/],
    ['empty', '', /no root element/],
    ['XML bomb', '<!DOCTYPE lolz [<!ENTITY lol "lol">]><testsuite>&lol;</testsuite>', /DOCTYPE declaring entities \(lol\) is not accepted/],
    ['two roots', '<testsuite/><testsuite/>', /more than one root element/],
  ])('rejects %s input with a clear error', (_what, xml, why) => {
    let err: unknown;
    try {
      parseJunit(xml, 'junit.xml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JunitError);
    expect((err as Error).message).toMatch(/^junit\.xml: /);
    expect((err as Error).message).toMatch(why);
  });

  it('survives deep nesting without overflowing the stack', () => {
    expect(() => parseJunit(`<testsuites>${'<testsuite>'.repeat(100_000)}`, 'deep.xml')).toThrow(/nested too deeply/);
  });

  it('caps the failure list so a run of 10,000 failures stays a readable note', () => {
    const cases = Array.from({ length: 10_000 }, (_, i) => `<testcase name="t${i}"><failure message="${'m'.repeat(1500)}"/></testcase>`).join('');
    const s = parseJunit(`<testsuite name="s">${cases}</testsuite>`);
    expect(s.failed).toBe(10_000);
    expect(s.failures).toHaveLength(100);
    expect(s.failures[0]?.message).toHaveLength(1000);
  });
});

describe('readJunitReports', () => {
  it('adds up several files and reports a broken or missing one beside the others', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slipway-junit-'));
    try {
      await writeFile(join(dir, 'a.xml'), surefire);
      await writeFile(join(dir, 'b.xml'), jest);
      await writeFile(join(dir, 'c.xml'), '<testsuite><testcase name="x">');
      const { summary, problems } = await readJunitReports([join(dir, 'a.xml'), join(dir, 'b.xml'), join(dir, 'c.xml'), join(dir, 'none.xml')]);
      expect(summary).toMatchObject({ passed: 3, failed: 2, skipped: 1, errors: 1, durationMs: 3010 });
      expect(summary.failures.map((f) => f.name)).toEqual(['removes', 'totals', 'api POST / validates']);
      expect(problems).toEqual([`${join(dir, 'c.xml')}: not well-formed XML: unclosed <testcase> at line 1, column 31`, expect.stringContaining('ENOENT')]);
      const limited = await readJunitReports([join(dir, 'a.xml')], 100);
      expect(limited.problems).toEqual([expect.stringMatching(/a\.xml: \d+ bytes is larger than the 100 byte limit/)]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('parseCoverage', () => {
  it('takes the last match of a GitLab-style pattern', () => {
    const log = 'Statements   : 71.2% ( 10/14 )\nLines        : 80.5% ( 100/124 )\n...\nLines        : 83.33% ( 5/6 )\n';
    expect(parseCoverage(log, '/Lines\\s*:\\s*\\d+\\.?\\d*%/')).toBe(83.33);
    expect(parseCoverage('TOTAL   120   12   90%', 'TOTAL.*\\s(\\d+)%')).toBe(90);
    expect(parseCoverage('no numbers here', '/Lines: \\d+/')).toBeUndefined();
    expect(() => parseCoverage('x', '/(unclosed/')).toThrow('invalid coverage pattern');
  });
});
