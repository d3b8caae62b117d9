import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { readConfig, type SlipwayConfig } from '../../src/config/config.js';
import type { Executor } from '../../src/executors/types.js';
import { startSlipway, type Role, type Slipway } from '../../src/slipway.js';
import type { RunRecord } from '../../src/runs/types.js';
import { startFakeGitlab, type FakeGitlab } from '../../src/standins/gitlab/gitlab-server.js';

export const WEBHOOK_SECRET = 'hook-secret-for-tests';

export interface Harness {
  slipway: Slipway;
  gitlab: FakeGitlab;
  url: string;
  config: SlipwayConfig;
  dataDir: string;
  /** Every log line Slipway printed (after masking). */
  logs: string[];
  api<T>(pathAndQuery: string): Promise<{ status: number; body: T }>;
  waitForRun(runId: string, phases?: RunRecord['status']['phase'][], timeoutMs?: number): Promise<RunRecord>;
  /** `keep`: leave the data dir (its Redis) and the fake GitLab for a harness started again with `reuse`. */
  stop(opts?: { keep?: boolean }): Promise<void>;
}

/**
 * A real Slipway (embedded Redis in a temp data dir, so every test file has its own) against the
 * fake GitLab, the services' Docker engine and registry.
 */
export async function startHarness(
  opts: {
    roles?: readonly Role[];
    env?: Record<string, string>;
    reconcileEveryMs?: number;
    /** Steps run by this instead of Docker (a benchmark of Slipway's own work). */
    executor?: Executor;
    /** A restart: the same data dir (its embedded Redis keeps everything) and the same fake GitLab. */
    reuse?: { gitlab: FakeGitlab; dataDir: string };
  } = {},
): Promise<Harness> {
  const gitlab = opts.reuse?.gitlab ?? (await startFakeGitlab());
  const dataDir = opts.reuse?.dataDir ?? mkdtempSync(path.join(tmpdir(), 'slipway-test-'));
  const result = readConfig({
    GITLAB_URL: gitlab.url,
    GITLAB_TOKEN: gitlab.token,
    SLIPWAY_WEBHOOK_SECRET: WEBHOOK_SECRET,
    SLIPWAY_DATA_DIR: dataDir,
    SLIPWAY_PORT: '0',
    SLIPWAY_LOG_LEVEL: 'info',
    DOCKER_HOST: process.env['DOCKER_HOST'] ?? 'unix:///run/slipway-docker.sock',
    SLIPWAY_REGISTRY: process.env['SLIPWAY_REGISTRY'] ?? '127.0.0.1:5050',
    ...opts.env,
  });
  if (!result.ok) throw new Error(result.problems.join('; '));
  const logs: string[] = [];
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logs.push(...chunk.toString('utf8').split('\n').filter(Boolean)));
  let slipway: Slipway;
  try {
    slipway = await startSlipway(result.config, opts.roles, {
      logDestination: sink,
      ...(opts.reconcileEveryMs ? { reconcileEveryMs: opts.reconcileEveryMs } : {}),
      ...(opts.executor ? { executor: opts.executor } : {}),
    });
  } catch (err) {
    // A Slipway that refuses to start (a test of its start checks) leaves nothing behind.
    await gitlab.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const url = slipway.url ?? '';
  const api = async <T>(p: string) => {
    const res = await fetch(`${url}${p}`, { headers: { Authorization: `Bearer ${slipway.apiToken}` } });
    return { status: res.status, body: (await res.json()) as T };
  };
  return {
    slipway,
    gitlab,
    url,
    config: result.config,
    dataDir,
    logs,
    api,
    async waitForRun(runId, phases = ['succeeded', 'failed', 'skipped', 'canceled'], timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const run = await slipway.store.get(runId);
        if (run && phases.includes(run.status.phase)) return run;
        if (Date.now() > deadline) throw new Error(`run ${runId} still ${run?.status.phase ?? 'missing'} (${run?.status.reason ?? ''}) after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop(stopOpts = {}) {
      await slipway.stop();
      if (stopOpts.keep) return;
      await gitlab.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
