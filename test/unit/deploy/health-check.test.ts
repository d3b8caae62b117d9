// The health check's verdict as the run record shows it, against a real HTTP server on loopback.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollHealth } from '../../../src/deploy/health-check.js';

let server: Server;
let base = '';
let healthyAfter = Number.POSITIVE_INFINITY;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === '/slow') return void setTimeout(() => res.end('late'), 5_000);
    if (req.url === '/healthz' && Date.now() >= healthyAfter) return void res.end('ok');
    res.writeHead(404).end('no such page');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const running = async () => undefined;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('release health check', () => {
  it('passes once the release answers 2xx', async () => {
    healthyAfter = Date.now() + 600;
    expect(await pollHealth(`${base}/healthz`, 5_000, running)).toEqual({ healthy: true });
  });

  it('names the answer that failed it', async () => {
    const verdict = await pollHealth(`${base}/nope`, 700, running);
    expect(verdict).toMatchObject({ healthy: false, exited: false });
    expect(verdict.healthy ? '' : verdict.reason).toMatch(/GET .*\/nope did not pass within 700ms: answered HTTP 404/);
  });

  it('keeps the real answer when a slow engine eats the rest of the budget', async () => {
    // The second inspect of the release takes longer than the time left: no 1 ms probe may hide the 404.
    let inspections = 0;
    const slowEngine = async () => {
      if (++inspections === 2) await sleep(800);
      return undefined;
    };
    const verdict = await pollHealth(`${base}/nope`, 600, slowEngine);
    expect(verdict.healthy ? '' : verdict.reason).toMatch(/answered HTTP 404/);
  });

  it('says a release that does not answer gave no answer', async () => {
    const verdict = await pollHealth(`${base}/slow`, 300, running);
    expect(verdict.healthy ? '' : verdict.reason).toMatch(/no answer within \d+ms/);
  });

  it('fails at once, with the exit, when the release stops', async () => {
    const started = Date.now();
    const verdict = await pollHealth(`${base}/nope`, 10_000, async () => 'container exited with code 3');
    expect(verdict).toEqual({ healthy: false, exited: true, reason: 'container exited with code 3' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
