/*
 * The analysis against a real Prometheus (Debian's /usr/bin/prometheus), no Kubernetes: two local
 * HTTP servers on 127.0.0.1 export request counters like a service's pods, one healthy version and
 * one whose requests half fail; Prometheus scrapes both every second. Slipway's runAnalysis asks it
 * the error-rate query a pipeline file writes: the good version passes, the bad one fails with the
 * query, the value Prometheus returned, when, and the condition. Skipped (saying so) without the
 * prometheus package.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAnalysis } from '../../src/analysis/run-analysis.js';
import type { AnalysisMetric, AnalysisTemplate } from '../../src/analysis/types.js';
import { hasPrometheus, NO_PROMETHEUS, startPrometheus, waitForQuery, type PrometheusProcess } from '../helpers/prometheus.js';

if (!hasPrometheus()) console.warn(`\n*** SKIPPED: ${NO_PROMETHEUS} ***\n`);

/** A /metrics page whose counters grow with time: `okPerSecond` 200s and `errorsPerSecond` 500s. */
function exporter(okPerSecond: number, errorsPerSecond: number): Server {
  const t0 = Date.now();
  return createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    const s = (Date.now() - t0) / 1000;
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(
      [
        '# TYPE http_requests_total counter',
        `http_requests_total{code="200"} ${Math.floor(s * okPerSecond)}`,
        `http_requests_total{code="500"} ${Math.floor(s * errorsPerSecond)}`,
        '',
      ].join('\n'),
    );
  });
}

const listen = async (s: Server) => {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(s.address() as AddressInfo).port}`;
};

const ERROR_RATE = 'sum(rate(http_requests_total{code=~"5..", version=${VERSION}}[5s])) / sum(rate(http_requests_total{version=${VERSION}}[5s]))';

function errorRate(over: Partial<AnalysisMetric> = {}): AnalysisTemplate {
  return {
    name: 'error-rate',
    metrics: [
      {
        name: 'error-rate',
        count: 3,
        intervalMs: 1000,
        initialDelayMs: 0,
        failureLimit: 1,
        inconclusiveLimit: 0,
        consecutiveErrorLimit: 2,
        successCondition: 'result[0] < 0.05',
        provider: { prometheus: { query: ERROR_RATE } },
        ...over,
      },
    ],
  };
}

describe.skipIf(!hasPrometheus())('analysis against a real Prometheus', () => {
  const good = exporter(20, 0);
  const bad = exporter(10, 10);
  let prom: PrometheusProcess;
  const logs: string[] = [];
  const opts = (version: string) => ({ prometheusUrl: prom.url, vars: { VERSION: version }, onLog: (l: string) => logs.push(l) });

  beforeAll(async () => {
    const [g, b] = await Promise.all([listen(good), listen(bad)]);
    prom = await startPrometheus([
      {
        job_name: 'service',
        static_configs: [
          { targets: [g], labels: { version: 'good' } },
          { targets: [b], labels: { version: 'bad' } },
        ],
      },
    ]);
    // rate() over 5 s needs two samples of each target.
    for (const v of ['good', 'bad']) {
      await waitForQuery(prom.url, ERROR_RATE.replaceAll('${VERSION}', `"${v}"`), `two scrapes of the ${v} version`, 20_000, (x) =>
        x.every((n) => !Number.isNaN(n)),
      );
    }
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    for (const s of [good, bad]) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it('a good version passes its three measurements', async () => {
    const r = await runAnalysis(errorRate(), opts('good'));
    expect(r.passed, JSON.stringify(r)).toBe(true);
    expect(r.measurements.map((m) => [m.phase, m.value])).toEqual(Array(3).fill(['successful', '0']));
  });

  it('a version whose requests fail is aborted, with the query, the value, the time and the condition', async () => {
    const t0 = new Date();
    const r = await runAnalysis(errorRate(), opts('bad'));
    expect(r.passed).toBe(false);
    if (r.passed) return;
    const m = /^analysis error-rate failed 2 of 2 measurements \(limit 1\): (.*) = ([\d.]+) at (\S+), needs result\[0\] < 0\.05$/.exec(r.reason);
    expect(m, r.reason).not.toBeNull();
    expect(m?.[1]).toBe('sum(rate(http_requests_total{code=~"5..", version="bad"}[5s])) / sum(rate(http_requests_total{version="bad"}[5s]))');
    expect(Number(m?.[2])).toBeGreaterThan(0.3);
    expect(Number(m?.[2])).toBeLessThan(0.7);
    expect(Date.parse(m?.[3] ?? '')).toBeGreaterThanOrEqual(t0.getTime());
    expect(logs.some((l) => l.startsWith('analysis error-rate: measurement 1/3 failed: '))).toBe(true);
  });

  it('a value from the event cannot widen the query: a hostile version matches no series, which is inconclusive, not a pass', async () => {
    const r = await runAnalysis(errorRate({ count: 1 }), opts('bad"} or vector(0) #'));
    expect(r.passed).toBe(false);
    expect(r.passed === false && r.reason).toContain('was inconclusive 1 of 1 measurements (limit 0)');
    expect(r.passed === false && r.reason).toContain('= no series (the query returned no series, so result[0] has no value)');
  });

  it('a query Prometheus cannot parse fails at once with its parser error', async () => {
    const r = await runAnalysis(errorRate({ provider: { prometheus: { query: 'sum(rate(http_requests_total[5s]' } } }), opts('good'));
    expect(r.passed === false && r.reason).toMatch(/^analysis error-rate cannot measure: .*: prometheus rejected the query \(bad_data\): .*parse error/);
    expect(r.measurements).toHaveLength(1);
  });
});
