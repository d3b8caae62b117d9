import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stepContainerName } from '../../src/executors/container-options.js';
import { createDockerExecutor } from '../../src/executors/docker-executor.js';
import type { LogSink, StepSpec } from '../../src/executors/types.js';
import { baseImageFromEnv, dockerFromEnv, registryFromEnv, uniqueId } from '../helpers/services.js';

const docker = dockerFromEnv();
const executor = createDockerExecutor(docker, { pullPolicy: 'never' });
const dirs: string[] = [];
// Per-file label value so the leak check below only sees this run's containers.
const testLabel = { 'io.slipway.test': `executor-${uniqueId()}` };

function step(script: string, over: Partial<StepSpec> = {}): StepSpec {
  return {
    id: `t-${uniqueId()}`,
    image: baseImageFromEnv(),
    argv: ['/bin/sh', '-c', script],
    env: {},
    workdir: '/',
    mounts: [],
    timeoutMs: 20_000,
    network: 'none',
    labels: testLabel,
    ...over,
  };
}

function collect(): { lines: Array<[string, string]>; sink: LogSink } {
  const lines: Array<[string, string]> = [];
  return { lines, sink: (line, stream) => lines.push([stream, line]) };
}

afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  const left = await docker.listContainers({ all: true, filters: { label: [`io.slipway.test=${testLabel['io.slipway.test']}`] } });
  expect(left).toEqual([]); // every step removed its container
});

describe('docker executor (real engine)', { timeout: 30_000 }, () => {
  // The engine copies stdout and stderr in separate goroutines: order is kept
  // within a stream, and across streams only for writes apart in time.
  it('returns exit code 0 and streams stdout/stderr lines in order', async () => {
    const { lines, sink } = collect();
    const r = await executor.runStep(step('echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; printf partial'), sink);
    expect(r).toMatchObject({ exitCode: 0, timedOut: false, canceled: false });
    expect(lines).toEqual([
      ['stdout', 'one'],
      ['stderr', 'two'],
      ['stdout', 'three'],
      ['stdout', 'partial'],
    ]);
  });

  it("applies the job's resources: the step sees its memory limit in its cgroup", async () => {
    const { lines, sink } = collect();
    const script = 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max';
    const r = await executor.runStep(
      step(script, { resources: { requests: { cpuMillis: 100, memoryBytes: 32 * 2 ** 20 }, limits: { cpuMillis: 500, memoryBytes: 64 * 2 ** 20 } } }),
      sink,
    );
    expect(r.exitCode).toBe(0);
    expect(lines).toEqual([['stdout', String(64 * 2 ** 20)]]);
  });

  it('returns a non-zero exit code', async () => {
    const r = await executor.runStep(step('exit 7'), () => undefined);
    expect(r.exitCode).toBe(7);
  });

  it('passes env, workdir and a bind mount', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-exec-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'in.txt'), 'from-host');
    const { lines, sink } = collect();
    const r = await executor.runStep(
      step('echo "$GREETING"; pwd; cat in.txt; echo out > out.txt', {
        env: { GREETING: 'hello world' },
        workdir: '/ws',
        mounts: [{ source: dir, target: '/ws' }],
      }),
      sink,
    );
    expect(r.exitCode).toBe(0);
    expect(lines.map(([, l]) => l)).toEqual(['hello world', '/ws', 'from-host']);
    expect(existsSync(join(dir, 'out.txt'))).toBe(true);
  });

  it('kills a step past its timeout', async () => {
    const started = Date.now();
    const r = await executor.runStep(step('sleep 30', { timeoutMs: 500 }), () => undefined);
    expect(r).toMatchObject({ timedOut: true, canceled: false });
    expect(r.exitCode).not.toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('cancels on abort', async () => {
    const ac = new AbortController();
    const { lines, sink } = collect();
    const running = executor.runStep(
      step('echo started; sleep 30'),
      (l, s) => {
        sink(l, s);
        if (l === 'started') ac.abort();
      },
      ac.signal,
    );
    const r = await running;
    expect(r).toMatchObject({ canceled: true, timedOut: false });
    expect(lines).toEqual([['stdout', 'started']]);
  });

  it('removes a leftover container with the same name first', async () => {
    const spec = step('echo fresh');
    const leftover = await docker.createContainer({
      name: stepContainerName(spec.id),
      Image: spec.image,
      Cmd: ['sleep', '30'],
      Labels: testLabel,
      HostConfig: { NetworkMode: 'none' },
    });
    await leftover.start();
    const { lines, sink } = collect();
    const r = await executor.runStep(spec, sink);
    expect(r.exitCode).toBe(0);
    expect(lines).toEqual([['stdout', 'fresh']]);
  });

  it('passes hostile env values verbatim and never evaluates them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'slipway-exec-'));
    dirs.push(dir);
    const marker = `pwned-${uniqueId()}`;
    const hostile = {
      SUBST: `$(touch /out/${marker})$(touch /tmp/${marker})`,
      TICKS: `\`touch /out/${marker}\``,
      SEMI: `x; touch /out/${marker}`,
      NEWLINE: `a\ntouch /out/${marker}\nb`,
      UNICODE: 'ünïcødé ✓ 🚀',
    };
    const script = Object.keys(hostile)
      .map((k) => `printf %s "$${k}" > /out/${k}`)
      .join('; ');
    const r = await executor.runStep(step(script, { env: hostile, mounts: [{ source: dir, target: '/out' }] }), () => undefined);
    expect(r.exitCode).toBe(0);
    for (const [k, v] of Object.entries(hostile)) expect(readFileSync(join(dir, k), 'utf8')).toBe(v);
    expect(existsSync(join(dir, marker))).toBe(false);
    expect(existsSync(join('/tmp', marker))).toBe(false);
  });

  it('names the image when it is missing', async () => {
    await expect(executor.runStep(step('true', { image: 'slipway/does-not-exist:1' }), () => undefined)).rejects.toThrow(
      /image not found: slipway\/does-not-exist:1/,
    );
  });

  it('names the image when a pull of a missing image fails', async () => {
    const pulling = createDockerExecutor(docker, { pullPolicy: 'missing', pullTimeoutMs: 20_000 });
    const image = `${registryFromEnv()}/slipway-missing-${uniqueId()}:1`;
    await expect(pulling.runStep(step('true', { image }), () => undefined)).rejects.toThrow(`image not found: ${image}`);
  });
});
