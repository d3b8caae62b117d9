import { open } from 'node:fs/promises';
import { childElements, parseXml, textOf, XmlError, type XmlElement } from './xml.js';

export interface TestFailure {
  suite: string;
  name: string;
  classname?: string;
  kind: 'failure' | 'error';
  message: string;
}

export interface TestSummary {
  passed: number;
  failed: number;
  skipped: number;
  errors: number;
  /** Failing tests (failures and errors), at most MAX_LISTED, messages cut at MAX_MESSAGE. */
  failures: TestFailure[];
  durationMs: number;
}

export class JunitError extends Error {
  override readonly name = 'JunitError';
}

export const MAX_REPORT_BYTES = 20 * 1024 * 1024;
const MAX_LISTED = 100;
const MAX_MESSAGE = 1_000;

export function emptySummary(): TestSummary {
  return { passed: 0, failed: 0, skipped: 0, errors: 0, failures: [], durationMs: 0 };
}

/**
 * One JUnit XML report (Surefire, pytest, jest-junit, go-junit-report…):
 * <testsuites> or a lone <testsuite>, suites nested or not, each <testcase>
 * counted once: skipped, error, failure or passed. Throws JunitError
 * ("<source>: <why> at line L, column C") for input that is not such a report.
 */
export function parseJunit(xml: string, source = 'report'): TestSummary {
  if (Buffer.byteLength(xml) > MAX_REPORT_BYTES) throw new JunitError(`${source}: larger than ${MAX_REPORT_BYTES} bytes`);
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    if (err instanceof XmlError) throw new JunitError(`${source}: not well-formed XML: ${err.message}`);
    throw err;
  }
  if (root.name !== 'testsuites' && root.name !== 'testsuite') {
    throw new JunitError(`${source}: root element is <${root.name}>, expected <testsuites> or <testsuite>`);
  }
  const summary = emptySummary();
  let caseTime = 0;
  let sawCaseTime = false;
  const visit = (el: XmlElement, suite: string): void => {
    for (const child of childElements(el)) {
      if (child.name === 'testsuite') visit(child, child.attrs['name'] ?? suite);
      else if (child.name === 'testcase') {
        const t = seconds(child.attrs['time']);
        if (t !== undefined) {
          caseTime += t;
          sawCaseTime = true;
        }
        count(summary, child, suite);
      }
    }
  };
  if (root.name === 'testsuite') visit({ name: 'testsuites', attrs: {}, children: [root] }, '');
  else visit(root, '');
  const suiteTime = (root.name === 'testsuite' ? [root] : childElements(root, 'testsuite')).reduce((s, el) => s + (seconds(el.attrs['time']) ?? 0), 0);
  summary.durationMs = Math.round((sawCaseTime ? caseTime : suiteTime) * 1000);
  return summary;
}

function count(summary: TestSummary, tc: XmlElement, suite: string): void {
  const outcome = ['skipped', 'error', 'failure'].map((n) => childElements(tc, n)[0]).find((e) => e !== undefined);
  if (!outcome) return void summary.passed++;
  if (outcome.name === 'skipped') return void summary.skipped++;
  const kind = outcome.name === 'error' ? 'error' : 'failure';
  if (kind === 'error') summary.errors++;
  else summary.failed++;
  if (summary.failures.length >= MAX_LISTED) return;
  const body = textOf(outcome).trim();
  const message = (outcome.attrs['message']?.trim() || body.split('\n')[0]?.trim() || outcome.attrs['type'] || kind).slice(0, MAX_MESSAGE);
  const classname = tc.attrs['classname'];
  summary.failures.push({ suite: suite || classname || '', name: tc.attrs['name'] ?? '(unnamed)', ...(classname ? { classname } : {}), kind, message });
}

/** JUnit time is seconds, sometimes with thousands separators ("1,234.5"). */
function seconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.replace(/,/g, ''));
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

export function mergeSummaries(parts: readonly TestSummary[]): TestSummary {
  const out = emptySummary();
  for (const p of parts) {
    out.passed += p.passed;
    out.failed += p.failed;
    out.skipped += p.skipped;
    out.errors += p.errors;
    out.durationMs += p.durationMs;
    out.failures.push(...p.failures.slice(0, MAX_LISTED - out.failures.length));
  }
  return out;
}

/**
 * Reads several report files (artifacts: reports: junit). A bad or missing
 * file becomes a problem line next to the counts of the others, so one
 * broken report never hides the rest, and never crashes the job.
 */
export async function readJunitReports(paths: readonly string[], maxBytes = MAX_REPORT_BYTES): Promise<{ summary: TestSummary; problems: string[] }> {
  const parts: TestSummary[] = [];
  const problems: string[] = [];
  for (const path of paths) {
    try {
      parts.push(parseJunit(await readBounded(path, maxBytes), path));
    } catch (err) {
      problems.push(err instanceof JunitError ? err.message : `${path}: ${(err as Error).message}`);
    }
  }
  return { summary: mergeSummaries(parts), problems };
}

async function readBounded(path: string, maxBytes: number): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size > maxBytes) throw new JunitError(`${path}: ${size} bytes is larger than the ${maxBytes} byte limit`);
    const buf = Buffer.alloc(size);
    await fh.read(buf, 0, size, 0);
    return buf.toString('utf8');
  } finally {
    await fh.close();
  }
}
