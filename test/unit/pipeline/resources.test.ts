import { describe, expect, it } from 'vitest';
import { toContainerCreateOptions } from '../../../src/executors/container-options.js';
import { formatProblem } from '../../../src/pipeline/errors.js';
import { parsePipelineFile } from '../../../src/pipeline/parse.js';
import { planPipeline } from '../../../src/planning/plan.js';
import type { PlannedScriptJob } from '../../../src/planning/plan-types.js';
import { toStepObjects } from '../../../src/pod-executor/pod-spec.js';

const file = (resources: string) => `unit:\n  image: busybox\n  script: [make test]\n  resources:\n${resources}`;

const planned = (text: string): PlannedScriptJob => {
  const r = parsePipelineFile(text);
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  const plan = planPipeline(r.file, {
    kind: 'full',
    event: 'push',
    project: { id: 7, path: 'shop/cart', defaultBranch: 'main', webUrl: undefined },
    sha: 'b'.repeat(40),
    ref: 'main',
    before: 'a'.repeat(40),
    mergeRequest: undefined,
    actor: 'dev',
  });
  const job = plan.jobs.find((j) => j.name === 'unit');
  if (job?.kind !== 'script') throw new Error('no script job unit');
  return job;
};

const problemsOf = (text: string) => {
  const r = parsePipelineFile(text);
  if (r.ok) throw new Error('expected problems');
  return r.problems.map(formatProblem);
};

describe('a job’s resources:', () => {
  it('reach the step as requests and limits, in Kubernetes quantities', () => {
    const job = planned(file('    requests: { cpu: 250m, memory: 128Mi }\n    limits: { cpu: 1.5, memory: 1G }\n'));
    expect(job.resources).toEqual({ requests: { cpuMillis: 250, memoryBytes: 128 * 2 ** 20 }, limits: { cpuMillis: 1500, memoryBytes: 1e9 } });
    const spec = {
      id: 'r-1',
      image: 'busybox',
      argv: ['/bin/sh', '-c', 'true'],
      env: {},
      workdir: '/workspace',
      mounts: [],
      timeoutMs: 1000,
      network: 'none' as const,
      labels: {},
      ...(job.resources ? { resources: job.resources } : {}),
    };
    // On the Docker host: the cgroup settings the kubelet would make.
    expect(toContainerCreateOptions(spec).HostConfig).toMatchObject({ NanoCpus: 1_500_000_000, CpuShares: 256, Memory: 1e9, MemoryReservation: 128 * 2 ** 20 });
    // On Kubernetes: the step container's resources.
    const pod = toStepObjects(spec, 'ci', 'busybox:1.36').pod;
    expect(pod.spec?.containers.find((c) => c.name === 'step')?.resources).toEqual({
      requests: { cpu: '250m', memory: String(128 * 2 ** 20) },
      limits: { cpu: '1500m', memory: String(1e9) },
    });
  });

  it('refuses what is not a quantity, and a request above its limit', () => {
    expect(problemsOf(file('    limits: { cpu: lots, memory: 12 }\n')).join('\n')).toMatch(/cpu quantity.*\n.*memory quantity/s);
    expect(problemsOf(file('    requests: { memory: 2Gi }\n    limits: { memory: 1Gi }\n')).join('\n')).toContain(
      'the memory request (2Gi) is above its limit (1Gi)',
    );
    expect(problemsOf(file('    request: { cpu: 1 }\n')).join('\n')).toContain("unknown key 'request'");
  });
});
