/*
 * Measurement counting and the reason a failed analysis gives, against a local HTTP server that
 * answers GET /api/v1/query with the envelope Prometheus's HTTP API documents
 * (https://prometheus.io/docs/prometheus/latest/querying/api/), and the HTTP gate against a local
 * server (pass, fail with status and body, a JSON verdict, a timeout). The real Prometheus is in
 * test/integration/analysis-prometheus.test.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analysisBoundMs, runAnalysis } from '../../../src/analysis/run-analysis.js';
import { canaryStepAnalysis } from '../../../src/deploy/post-deploy-analysis.js';
import type { AnalysisMetric, AnalysisTemplate } from '../../../src/analysis/types.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.end();
const queries: string[] = [];
let server: Server;
let base = '';

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** Answers each query with the next of `answers` (the last one repeats): a vector of those values. */
function prometheusAnswering(answers: (number | string)[][]): void {
  let i = 0;
  queries.length = 0;
  handler = (req, res) => {
    const url = new URL(req.url ?? '/', base);
    if (url.pathname !== '/api/v1/query') {
      res.writeHead(404).end('404 page not found');
      return;
    }
    queries.push(url.searchParams.get('query') ?? '');
    const values = answers[Math.min(i++, answers.length - 1)]!;
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        status: 'success',
        data: { resultType: 'vector', result: values.map((v, n) => ({ metric: { pod: `p${n}` }, value: [1764441005.123, String(v)] })) },
      }),
    );
  };
}

const FIXED = new Date('2026-11-29T18:30:05Z');
const logs: string[] = [];
const opts = () => ({
  prometheusUrl: base,
  vars: { SLIPWAY_SERVICE: 'web', SLIPWAY_ENVIRONMENT: 'pre' },
  onLog: (l: string) => logs.push(l),
  now: () => FIXED,
  calls: { timeoutMs: 500, retries: 1, backoffMs: 10 },
});

function metric(over: Partial<AnalysisMetric> = {}): AnalysisMetric {
  return {
    name: 'error-rate',
    count: 3,
    intervalMs: 10,
    initialDelayMs: 0,
    failureLimit: 1,
    inconclusiveLimit: 0,
    consecutiveErrorLimit: 4,
    successCondition: 'result[0] < 0.05',
    provider: { prometheus: { query: 'sum(rate(http_requests_total{code="500",service=${SLIPWAY_SERVICE}}[1m]))' } },
    ...over,
  };
}
const template = (m: AnalysisMetric, name = 'error-rate'): AnalysisTemplate => ({ name, metrics: [m] });

describe('runAnalysis with Prometheus', () => {
  it('passes when every measurement is within the condition, querying with the service as a PromQL string', async () => {
    prometheusAnswering([[0.01], [0.02], [0]]);
    const r = await runAnalysis(template(metric()), opts());
    expect(r.passed).toBe(true);
    expect(r.measurements.map((m) => m.phase)).toEqual(['successful', 'successful', 'successful']);
    expect(queries).toEqual(Array(3).fill('sum(rate(http_requests_total{code="500",service="web"}[1m]))'));
  });

  it('tolerates failureLimit failures, then fails naming the query, the value, the time and the condition', async () => {
    prometheusAnswering([[0.31], [0.01], [0.42]]);
    const r = await runAnalysis(template(metric()), opts());
    expect(r).toMatchObject({
      passed: false,
      reason:
        'analysis error-rate failed 2 of 3 measurements (limit 1): sum(rate(http_requests_total{code="500",service="web"}[1m])) = 0.42 at 2026-11-29T18:30:05.000Z, needs result[0] < 0.05',
    });
    prometheusAnswering([[0.31], [0.01], [0.01]]);
    expect((await runAnalysis(template(metric()), opts())).passed).toBe(true);
  });

  it('stops at the failure that exceeds the limit, without taking the remaining measurements', async () => {
    prometheusAnswering([[0.5]]);
    const r = await runAnalysis(template(metric({ count: 5, failureLimit: 0 })), opts());
    expect(r.passed).toBe(false);
    expect(r.measurements).toHaveLength(1);
    expect(queries).toHaveLength(1);
  });

  it('calls an empty result or NaN inconclusive and says so; past inconclusiveLimit the analysis fails', async () => {
    prometheusAnswering([[], ['NaN'], [0.01]]);
    const r = await runAnalysis(template(metric({ inconclusiveLimit: 2 })), opts());
    expect(r.passed).toBe(true);
    expect(r.measurements.map((m) => [m.phase, m.value])).toEqual([
      ['inconclusive', 'no series (the query returned no series, so result[0] has no value)'],
      ['inconclusive', 'NaN (the value is NaN (no traffic to divide by?))'],
      ['successful', '0.01'],
    ]);
    prometheusAnswering([[]]);
    const failed = await runAnalysis(template(metric({ inconclusiveLimit: 0 })), opts());
    expect(failed).toMatchObject({ passed: false });
    expect(failed.passed === false && failed.reason).toMatch(
      /^analysis error-rate was inconclusive 1 of 1 measurements \(limit 0\): .* = no series \(the query returned no series/,
    );
  });

  it('with both conditions, neither met is inconclusive (as in Argo Rollouts); failureCondition alone fails when true', async () => {
    prometheusAnswering([[0.07]]);
    const both = await runAnalysis(template(metric({ count: 1, failureCondition: 'result[0] > 0.1' })), opts());
    expect(both.measurements[0]?.phase).toBe('inconclusive');
    const { successCondition: _, ...noSuccess } = metric({ count: 1, failureLimit: 0 });
    prometheusAnswering([[0.2]]);
    const failOnly = await runAnalysis(template({ ...noSuccess, failureCondition: 'result[0] > 0.1' }), opts());
    expect(failOnly.passed === false && failOnly.reason).toContain('= 0.2 at 2026-11-29T18:30:05.000Z, needs not (result[0] > 0.1)');
  });

  it('names the template and the metric when they differ, and shows every series of a vector', async () => {
    prometheusAnswering([[0.01, 0.2]]);
    const r = await runAnalysis(
      template(metric({ name: 'per-pod', count: 1, failureLimit: 0, successCondition: 'result[0] < 0.05 && result[1] < 0.05' }), 'slo'),
      opts(),
    );
    expect(r.passed === false && r.reason).toMatch(/^analysis slo\/per-pod failed 1 of 1 measurements \(limit 0\): .* = \[0\.01, 0\.2\] at /);
  });

  it('a query Prometheus rejects fails at once with its error; an unreachable Prometheus fails after consecutiveErrorLimit errors in a row', async () => {
    handler = (_req, res) => {
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: 'error', errorType: 'bad_data', error: 'parse error at char 5' }));
    };
    const bad = await runAnalysis(template(metric()), opts());
    expect(bad.passed === false && bad.reason).toContain('analysis error-rate cannot measure: ');
    expect(bad.passed === false && bad.reason).toContain('prometheus rejected the query (bad_data): parse error at char 5');
    expect(bad.measurements).toHaveLength(1);

    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const down = await runAnalysis(template(metric({ count: 4, consecutiveErrorLimit: 1 })), { ...opts(), prometheusUrl: `http://127.0.0.1:${port}` });
    expect(down.passed === false && down.reason).toContain(
      `analysis error-rate could not measure 2 times in a row (limit 1): sum(rate(http_requests_total{code="500",service="web"}[1m])): prometheus at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port} (after 2 attempts) at 2026-`,
    );
    expect(down.measurements).toHaveLength(2);
  });

  it('a 503 is retried within the measurement; no Prometheus address at all is said plainly', async () => {
    let calls = 0;
    handler = (req, res) => {
      if (calls++ === 0) {
        res.writeHead(503).end('overloaded');
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: 'success', data: { resultType: 'scalar', result: [1, '0.01'] } }));
      void req;
    };
    expect((await runAnalysis(template(metric({ count: 1 })), opts())).passed).toBe(true);
    expect(calls).toBe(2);
    const none = await runAnalysis(template(metric({ count: 1 })), { ...opts(), prometheusUrl: undefined });
    expect(none.passed === false && none.reason).toContain(
      'no Prometheus address: set SLIPWAY_PROMETHEUS_URL on the deploy worker or provider.prometheus.address',
    );
  });

  it('runs the metrics of several templates in parallel and stops the others at the first failure', async () => {
    prometheusAnswering([[0.9]]);
    const slow = metric({ name: 'slow', count: 50, intervalMs: 1000, successCondition: 'result[0] < 1' });
    const t0 = Date.now();
    const r = await runAnalysis([template(slow, 'slow'), template(metric({ count: 1, failureLimit: 0 }))], opts());
    expect(r.passed === false && r.reason).toMatch(/^analysis error-rate failed 1 of 1/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('bounds how long an analysis can take (the environment lock must outlive it)', () => {
    const bound = analysisBoundMs([template(metric({ count: 3, intervalMs: 10_000, initialDelayMs: 5_000 }))], { timeoutMs: 1000, retries: 2, backoffMs: 100 });
    // 5 s delay + 2 intervals + 3 measurements of at most 3 attempts of 1 s plus 100 + 200 ms backoff.
    expect(bound).toBe(5_000 + 20_000 + 3 * 3_300);
  });
});

describe('runAnalysis with the HTTP gate', () => {
  const gate = (path: string, over: Partial<AnalysisMetric> = {}): AnalysisTemplate => {
    const { successCondition: _, ...m } = metric({ name: 'smoke', count: 1, failureLimit: 0, ...over });
    return {
      name: 'smoke',
      metrics: [{ ...m, provider: { http: { url: `${base}${path}`, method: 'GET', headers: { authorization: 'Bearer ${TOKEN}' }, timeoutMs: 300 } } }],
    };
  };
  let seenAuth: string | undefined;
  const answer =
    (status: number, body: string, delayMs = 0): Handler =>
    (req, res) => {
      seenAuth = req.headers.authorization;
      setTimeout(() => res.writeHead(status).end(body), delayMs);
    };

  it('passes on 2xx and on {"pass": true}, sending the header with the project variable', async () => {
    handler = answer(204, '');
    expect((await runAnalysis(gate('/smoke?env=${SLIPWAY_ENVIRONMENT}'), { ...opts(), secrets: { TOKEN: 's3cret' } })).passed).toBe(true);
    expect(seenAuth).toBe('Bearer s3cret');
    handler = answer(200, '{"pass": true, "reason": "CHG-1 approved"}');
    expect((await runAnalysis(gate('/ticket'), { ...opts(), secrets: { TOKEN: 's3cret' } })).passed).toBe(true);
  });

  it('fails on a non-2xx with the status and a short body excerpt, or on {"pass": false} with its reason; the token is not shown', async () => {
    handler = answer(503, `smoke test failed: checkout returned 500\n${'x'.repeat(1000)}`);
    const r = await runAnalysis(gate('/smoke?token=abc'), { ...opts(), secrets: { TOKEN: 's3cret' } });
    expect(r.passed === false && r.reason).toMatch(
      /^analysis smoke failed 1 of 1 measurements \(limit 0\): GET http:\/\/127\.0\.0\.1:\d+\/smoke = HTTP 503: smoke test failed: checkout returned 500 x+… at 2026-11-29T18:30:05\.000Z, needs a 2xx answer/,
    );
    expect(r.passed === false && r.reason).not.toContain('token=abc');
    expect(r.passed === false && r.reason).not.toContain('s3cret');
    handler = answer(200, '{"pass": false, "reason": "change ticket CHG-7 is not approved"}');
    const ticket = await runAnalysis(gate('/ticket'), { ...opts(), secrets: { TOKEN: 's3cret' } });
    expect(ticket.passed === false && ticket.reason).toContain('= HTTP 200, pass false: change ticket CHG-7 is not approved at');
  });

  it('a gate that does not answer in time is retried, then fails once the errors in a row pass the limit', async () => {
    let calls = 0;
    handler = (req, res) => {
      calls++;
      void req;
      setTimeout(() => res.end('late'), 2000).unref();
    };
    const t0 = Date.now();
    const r = await runAnalysis(gate('/slow', { count: 2, intervalMs: 10, consecutiveErrorLimit: 1 }), { ...opts(), secrets: { TOKEN: 'x' } });
    expect(r.passed === false && r.reason).toMatch(
      /^analysis smoke could not measure 2 times in a row \(limit 1\): GET .*\/slow: no answer within 300 ms \(after 2 attempts\)/,
    );
    expect(calls).toBe(4);
    expect(Date.now() - t0).toBeLessThan(2500);
  });
});

describe("a canary's step gate (canaryStepAnalysis)", () => {
  const smoke: AnalysisTemplate = {
    name: 'smoke',
    metrics: [
      {
        name: 'smoke',
        count: 1,
        intervalMs: 0,
        initialDelayMs: 0,
        failureLimit: 0,
        inconclusiveLimit: 0,
        consecutiveErrorLimit: 0,
        provider: { http: { url: '', method: 'GET', headers: {}, timeoutMs: 300 } },
      },
    ],
  };
  const at = (path: string): AnalysisTemplate => ({
    ...smoke,
    metrics: smoke.metrics.map((m) => ({ ...m, provider: { http: { url: `${base}${path}`, method: 'GET', headers: {}, timeoutMs: 300 } } })),
  });

  it('lets a step pass when the analysis passes, and aborts it with the analysis reason when it fails', async () => {
    handler = (_req, res) => res.writeHead(200).end('ok');
    const pass = await canaryStepAnalysis([at('/ok')], opts())({ weight: 10, index: 1, of: 3 });
    expect(pass).toEqual({ healthy: true });
    expect(logs).toContain('analysis at 10% (step 1 of 3): smoke');

    handler = (_req, res) => res.writeHead(500).end('errors at 10%');
    const fail = await canaryStepAnalysis([at('/bad')], opts())({ weight: 10, index: 1, of: 3 });
    expect(fail.healthy).toBe(false);
    expect(!fail.healthy && fail.reason).toMatch(
      /^analysis smoke failed 1 of 1 measurements \(limit 0\): GET http:\/\/127\.0\.0\.1:\d+\/bad = HTTP 500: errors at 10%/,
    );
  });
});
