import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/types.js';
import { commitFiles } from '../../src/standins/gitlab/git-repo.js';
import type { FakeProject } from '../../src/standins/gitlab/gitlab-server.js';
import { startHarness, type Harness } from '../helpers/slipway-harness.js';

// `slipway run`, `status` and `logs -f` as a user runs them against a Slipway server: real CLI
// processes (tsx stands in for the build), a real Slipway, the GitLab stand-in, real containers.
const MAIN = path.resolve(import.meta.dirname, '../../src/cli/main.ts');
const TSX = createRequire(import.meta.url).resolve('tsx');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function slipway(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, MAIN, ...args],
      { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: timeoutMs },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

describe('slipway run, status and logs against a server (processes)', () => {
  let h: Harness;
  let project: FakeProject;
  let sha: string;
  let env: Record<string, string>;
  const projectId = 15000 + Math.floor(Math.random() * 1000);
  const dir = mkdtempSync(path.join(tmpdir(), 'slipway-cli-server-'));
  let runId = '';

  beforeAll(async () => {
    h = await startHarness();
    project = await h.gitlab.addProject({ id: projectId, pathWithNamespace: `team/cli-${projectId}`, defaultBranch: 'main' });
    // Long enough that `logs -f` (a process started after `run` returns) meets the job running.
    const pipeline = [
      'greet:',
      '  image: slipway/busybox:1',
      '  script:',
      '    - echo hello from the cli test',
      '    - sleep 10',
      '    - echo second line',
      '',
    ].join('\n');
    sha = await commitFiles(project.bareDir, 'main', { '.slipway.yml': pipeline }, 'pipeline');
    env = { SLIPWAY_URL: h.url, SLIPWAY_TOKEN: h.slipway.apiToken };
  });
  afterAll(async () => {
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('run starts a pipeline for a branch as a manual run asked by the GitLab token owner; logs -f streams it until it ends, exit 0; status --json shows it', async () => {
    const { token } = h.gitlab.addUser({ id: 4242, username: 'maria' });
    const tokenFile = path.join(dir, 'gitlab-token');
    writeFileSync(tokenFile, `${token}\n`);
    const r = await slipway(['run', '--project', String(projectId), '--ref', 'main', '--gitlab-token-file', tokenFile, '--json'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const answer = JSON.parse(r.stdout) as { status: number; runId: string; sha: string; actor: string };
    expect(answer).toMatchObject({ status: 201, sha, actor: 'maria' });
    runId = answer.runId;
    const run = (await h.api<RunRecord>(`/api/runs/${runId}`)).body;
    expect(run.request).toMatchObject({ event: 'manual', kind: 'full', ref: 'main', sha, actor: 'maria' });

    const logs = await slipway(['logs', runId, '-f', '--timeout', '90'], env, 120_000);
    expect(logs.code).toBe(0);
    const lines = logs.stdout.split('\n').filter(Boolean);
    expect(lines).toContain('[greet] hello from the cli test');
    expect(lines).toContain('[greet] second line');
    // Each line once: following resumes from the last line printed.
    expect(lines.filter((l) => l === '[greet] hello from the cli test')).toHaveLength(1);
    // It waited: the job was seen running, then the run's end.
    expect(logs.stderr).toMatch(/job greet: running/);
    expect(logs.stderr).toMatch(new RegExp(`run ${runId}: succeeded`));

    const s = await slipway(['status', runId, '--json'], env);
    expect(s.code).toBe(0);
    const shown = JSON.parse(s.stdout) as RunRecord;
    expect(shown.status.phase).toBe('succeeded');
    expect(shown.jobs.map((j) => [j.name, j.status.phase])).toEqual([['greet', 'success']]);

    const list = await slipway(['status', '--project', String(projectId), '--ref', 'main', '--json'], env);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { runs: RunRecord[] }).runs.map((x) => x.id)).toContain(runId);
  });

  it('a second run by hand is a new pipeline, as GitLab\'s "Run pipeline"; without a GitLab token it was asked by "api"', async () => {
    const again = await slipway(['run', '--project', String(projectId), '--ref', 'main'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^started run \S+ for main@[0-9a-f]{8} \(asked by api\)\n$/);
    expect(again.stdout).not.toContain(runId);
  });

  it('logs -f on a run that fails exits 1', async () => {
    await commitFiles(project.bareDir, 'broken', { '.slipway.yml': 'fail:\n  image: slipway/busybox:1\n  script: [echo about to fail, exit 3]\n' }, 'broken');
    const started = await slipway(['run', '--project', String(projectId), '--ref', 'broken', '--json'], env);
    expect(started.code).toBe(0);
    const failedRun = (JSON.parse(started.stdout) as { runId: string }).runId;
    const r = await slipway(['logs', failedRun, '-f'], env, 120_000);
    expect(r.stdout).toContain('[fail] about to fail');
    expect(r.code).toBe(1);
  });

  it('run for a branch that does not exist is refused: exit 1, saying so', async () => {
    const r = await slipway(['run', '--project', String(projectId), '--ref', 'nope'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`has no branch nope`);
  });

  it('an unreachable server exits 3; no URL or token exits 2', async () => {
    const down = { SLIPWAY_URL: 'http://127.0.0.1:1', SLIPWAY_TOKEN: 'x' };
    for (const args of [['status'], ['logs', 'r1', '-f'], ['run', '--project', '1', '--ref', 'main']]) {
      const r = await slipway(args, down);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toContain('could not reach http://127.0.0.1:1');
    }
    expect((await slipway(['status'], { SLIPWAY_URL: h.url })).code).toBe(2);
    expect((await slipway(['status'], { SLIPWAY_URL: h.url, SLIPWAY_TOKEN: 'wrong' })).code).toBe(3);
  });

  it('Ctrl-C while following exits 130', async () => {
    await commitFiles(project.bareDir, 'slow', { '.slipway.yml': 'slow:\n  image: slipway/busybox:1\n  script: [echo waiting, sleep 8]\n' }, 'slow');
    const started = await slipway(['run', '--project', String(projectId), '--ref', 'slow', '--json'], env);
    const slowRun = (JSON.parse(started.stdout) as { runId: string }).runId;
    const child = spawn(process.execPath, ['--import', TSX, MAIN, 'logs', slowRun, '-f'], { env: { PATH: process.env['PATH'] ?? '', ...env } });
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    // Interrupted while it waits: once the job's first line is out.
    await new Promise<void>((r) => child.stdout.on('data', (d: Buffer) => d.toString().includes('[slow] waiting') && r()));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
  });
});
