import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Dockerode from 'dockerode';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import { deliver, fixture } from './gitlab-delivery.js';
import { startHarness, WEBHOOK_SECRET, type Harness } from './slipway-harness.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * Slipway scaled out on one Redis (the services' Redis, a prefix of its own): an HTTP + planner
 * process (the harness, in this process) and N build worker processes (`workers/build.ts`, each
 * its own node process with its own data and workspace dirs), sharing the API token and the
 * variables key as a real deployment must.
 */
export interface WorkerFleet {
  h: Harness;
  workers: ChildProcess[];
  /** A project whose one script job runs on every branch. */
  project(id: number): Promise<{ push(branch: string): Promise<{ status: number; json: Record<string, unknown> }> }>;
  stop(): Promise<void>;
}

export async function startWorkerFleet(opts: { workers: number; buildConcurrency?: number; redisUrl?: string }): Promise<WorkerFleet> {
  const redisUrl = opts.redisUrl ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6390';
  const common: Record<string, string> = {
    REDIS_URL: redisUrl,
    SLIPWAY_REDIS_PREFIX: `fleet-${randomBytes(4).toString('hex')}`,
    SLIPWAY_API_TOKEN: randomBytes(24).toString('hex'),
    SLIPWAY_VARIABLES_KEY: randomBytes(32).toString('hex'),
    SLIPWAY_BUILD_CONCURRENCY: String(opts.buildConcurrency ?? 2),
    // The services' Redis is the test's, run with appendfsync always; no need to re-check it per process.
    SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY: 'true',
  };
  const h = await startHarness({ roles: ['http', 'planner'], env: common });
  const workers: ChildProcess[] = [];
  const dirs: string[] = [];
  for (let i = 0; i < opts.workers; i++) {
    const dir = mkdtempSync(path.join(tmpdir(), `slipway-worker-${i}-`));
    dirs.push(dir);
    const env = {
      ...process.env,
      ...common,
      GITLAB_URL: h.gitlab.url,
      GITLAB_TOKEN: h.gitlab.token,
      SLIPWAY_WEBHOOK_SECRET: WEBHOOK_SECRET,
      SLIPWAY_DATA_DIR: dir,
      SLIPWAY_PORT: '0',
      SLIPWAY_LOG_LEVEL: 'warn',
      DOCKER_HOST: process.env['DOCKER_HOST'] ?? 'unix:///run/slipway-docker.sock',
      SLIPWAY_REGISTRY: process.env['SLIPWAY_REGISTRY'] ?? '127.0.0.1:5050',
    };
    workers.push(spawn(path.join(ROOT, 'node_modules/.bin/tsx'), [path.join(ROOT, 'workers/build.ts')], { env, stdio: ['ignore', 'ignore', 'inherit'] }));
  }
  return {
    h,
    workers,
    async project(id) {
      const project = await h.gitlab.addProject({ id, pathWithNamespace: `team/fleet-${id}`, defaultBranch: 'main' });
      const sha = await commitFiles(
        project.bareDir,
        'main',
        { '.slipway.yml': 'unit:\n  image: slipway/busybox:1\n  script: [echo fleet-ok]\n' },
        'add pipeline',
      );
      return {
        push(branch) {
          const body = fixture('push-hook.json');
          body['project'] = { ...(body['project'] as object), id, path_with_namespace: project.pathWithNamespace, default_branch: 'main' };
          Object.assign(body, { ref: `refs/heads/${branch}`, after: sha, checkout_sha: sha });
          return deliver(h.url, 'Push Hook', body, WEBHOOK_SECRET);
        },
      };
    },
    async stop() {
      // SIGTERM: each worker stops in order (lets its running job finish) and exits.
      await Promise.all(
        workers.map(
          (w) =>
            new Promise<void>((resolve) => {
              if (w.exitCode !== null) return resolve();
              const timer = setTimeout(() => w.kill('SIGKILL'), 30_000);
              w.once('exit', () => {
                clearTimeout(timer);
                resolve();
              });
              w.kill('SIGTERM');
            }),
        ),
      );
      await h.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/**
 * Counts the job containers the Docker engine creates (its event stream, label io.slipway.run):
 * how many times each (run, job) was executed, whatever process started it.
 */
export async function countExecutions(
  docker = new Dockerode({ socketPath: (process.env['DOCKER_HOST'] ?? 'unix:///run/slipway-docker.sock').replace(/^unix:\/\//, '') }),
) {
  const counts = new Map<string, number>();
  const stream = (await docker.getEvents({ filters: { type: ['container'], event: ['create'], label: ['io.slipway.run'] } })) as NodeJS.ReadableStream & {
    destroy(): void;
  };
  let rest = '';
  stream.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines.filter(Boolean)) {
      const attrs = (JSON.parse(line) as { Actor?: { Attributes?: Record<string, string> } }).Actor?.Attributes ?? {};
      const key = `${attrs['io.slipway.run']}/${attrs['io.slipway.job']}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  });
  return {
    counts,
    stop() {
      stream.destroy();
    },
  };
}

/** Sends `runs` pushes (distinct branches), waits for every run to end; returns the runs and the seconds from the first push to the last run's end. */
export async function runBatch(fleet: WorkerFleet, projectId: number, runs: number, timeoutMs = 300_000) {
  const p = await fleet.project(projectId);
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: runs }, (_, i) => p.push(`b-${i}`)));
  const ids = answers.map((a) => {
    if (a.status !== 202 || typeof a.json['runId'] !== 'string') throw new Error(`push answered ${a.status}: ${JSON.stringify(a.json)}`);
    return a.json['runId'];
  });
  const ended = await Promise.all(ids.map((id) => fleet.h.waitForRun(id, ['succeeded', 'failed', 'canceled', 'skipped'], timeoutMs)));
  return { runs: ended, seconds: (Date.now() - started) / 1000 };
}
