// Debian's `prometheus` (the `prometheus` package: /usr/bin/prometheus), started by a test with a
// config of its own: its data in a temp dir, listening on 127.0.0.1:<free port> (inside the test
// bed's network namespace when the test runs there), scraping every second. Stopped with SIGTERM
// (then SIGKILL) and its dir removed by stop().
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';

export const PROMETHEUS_BIN = process.env['SLIPWAY_PROMETHEUS_BIN'] ?? '/usr/bin/prometheus';
export const hasPrometheus = (): boolean => existsSync(PROMETHEUS_BIN);
export const NO_PROMETHEUS = `${PROMETHEUS_BIN} is missing: install Debian's prometheus package (apt-get install prometheus) to run the analysis tests against a real Prometheus`;

export interface PrometheusProcess {
  /** Base URL of its HTTP API, http://127.0.0.1:<port>. */
  url: string;
  dir: string;
  /** Its log so far (stderr), for a failing test's message. */
  log(): string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== 'object' || !address) throw new Error('no free port');
  return address.port;
}

/** Starts prometheus with these scrape configs (scrape interval and timeout 1 s unless a config says otherwise); resolves once /-/ready answers. */
export async function startPrometheus(scrapeConfigs: Record<string, unknown>[], opts: { readyWithinMs?: number } = {}): Promise<PrometheusProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'slipway-prometheus-'));
  const port = await freePort();
  const configFile = path.join(dir, 'prometheus.yml');
  writeFileSync(configFile, stringify({ global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' }, scrape_configs: scrapeConfigs }));
  const child = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Debian's defaults point under /etc/prometheus and /usr/share; the test needs none of them.
      `--web.console.templates=${path.join(dir, 'consoles')}`,
      `--web.console.libraries=${path.join(dir, 'console_libraries')}`,
      '--log.level=info',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.on('data', (d: Buffer) => {
    log += d.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    const killed = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killed);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.readyWithinMs ?? 30_000);
  for (;;) {
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus did not become ready on ${url} within ${opts.readyWithinMs ?? 30_000} ms:\n${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, dir, log: () => log, stop };
}

/** The values an instant query returns now (one per series), through the same API Slipway asks. */
export async function instantQuery(baseUrl: string, query: string): Promise<number[]> {
  const res = await fetch(`${baseUrl}/api/v1/query?${new URLSearchParams({ query })}`, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { data?: { result?: { value: [number, string] }[] } };
  return (body.data?.result ?? []).map((s) => Number(s.value[1]));
}

/** Waits until `query` returns at least one series whose values all pass `ok`, saying what it waits for when the time is up. */
export async function waitForQuery(
  baseUrl: string,
  query: string,
  what: string,
  timeoutMs: number,
  ok: (v: number[]) => boolean = () => true,
): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let last: number[] = [];
  for (;;) {
    last = await instantQuery(baseUrl, query).catch(() => []);
    if (last.length > 0 && ok(last)) return last;
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what} (${query}); last answer: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
