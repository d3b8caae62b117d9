import { describe, expect, it } from 'vitest';
import { stepContainerName, toContainerCreateOptions } from '../../../src/executors/container-options.js';
import type { StepSpec } from '../../../src/executors/types.js';

const spec: StepSpec = {
  id: 'Run-42/Job:test#1',
  image: 'slipway/busybox:1',
  argv: ['/bin/sh', '-c', 'echo hi'],
  env: { CI: 'true', BRANCH: 'feature/$(x)' },
  workdir: '/workspace',
  mounts: [
    { source: '/tmp/ws', target: '/workspace' },
    { source: '/cache', target: '/cache', readOnly: true },
  ],
  timeoutMs: 1000,
  network: 'none',
  labels: { 'io.slipway.run': '42' },
};

describe('toContainerCreateOptions', () => {
  it('converts a step spec by value', () => {
    expect(toContainerCreateOptions(spec)).toEqual({
      name: 'slipway-step-run-42-job-test-1',
      Image: 'slipway/busybox:1',
      Entrypoint: ['/bin/sh'],
      Cmd: ['-c', 'echo hi'],
      Env: ['CI=true', 'BRANCH=feature/$(x)'],
      WorkingDir: '/workspace',
      Labels: { 'io.slipway.run': '42', 'io.slipway.managed': 'true', 'io.slipway.step': 'Run-42/Job:test#1' },
      Tty: false,
      OpenStdin: false,
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      HostConfig: {
        NetworkMode: 'none',
        AutoRemove: false,
        Mounts: [
          { Type: 'bind', Source: '/tmp/ws', Target: '/workspace', ReadOnly: false },
          { Type: 'bind', Source: '/cache', Target: '/cache', ReadOnly: true },
        ],
      },
    });
  });

  it('cannot be overridden on the managed label', () => {
    const opts = toContainerCreateOptions({ ...spec, labels: { 'io.slipway.managed': 'false' } });
    expect(opts.Labels?.['io.slipway.managed']).toBe('true');
  });

  it('rejects empty argv and bad env names', () => {
    expect(() => toContainerCreateOptions({ ...spec, argv: [] })).toThrow(/argv is empty/);
    expect(() => toContainerCreateOptions({ ...spec, env: { 'A=B': 'x' } })).toThrow(/invalid environment/);
  });

  it('sanitizes names to [a-z0-9_.-]', () => {
    expect(stepContainerName('A b/../$(rm)')).toBe('slipway-step-a-b-..---rm-');
    expect(stepContainerName('x'.repeat(500)).length).toBe(200);
  });
});
