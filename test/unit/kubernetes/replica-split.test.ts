import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { cpuMillis, freeCpuMillis, splitReplicas } from '../../../src/kubernetes/replica-split.js';

// The arithmetic behind "the Deployment's replicas are the total across the environment's clusters".
const split = (total: number, weights: Record<string, number>) =>
  Object.fromEntries(
    splitReplicas(
      total,
      Object.entries(weights).map(([name, weight]) => ({ name, weight })),
    ),
  );

describe('splitting replicas across clusters', () => {
  it('splits by weight, the shares adding up to the total', () => {
    expect(split(4, { a: 3, b: 1 })).toEqual({ a: 3, b: 1 });
    expect(split(8, { a: 1, b: 1 })).toEqual({ a: 4, b: 4 });
    expect(split(10, { a: 2, b: 1, c: 1 })).toEqual({ a: 5, b: 3, c: 2 });
  });

  it('gives left-over replicas to the largest remainders, ties to the cluster listed first', () => {
    // 5 by 1:1 → 2.5 each: the first listed gets the odd one.
    expect(split(5, { a: 1, b: 1 })).toEqual({ a: 3, b: 2 });
    expect(split(5, { b: 1, a: 1 })).toEqual({ b: 3, a: 2 });
    // 7 by 1:1:1 → 2.33 each: one left over, to the first.
    expect(split(7, { a: 1, b: 1, c: 1 })).toEqual({ a: 3, b: 2, c: 2 });
    // 3 by 5:3 → 1.875 and 1.125: the larger remainder wins over list order.
    expect(split(3, { a: 3, b: 5 })).toEqual({ a: 1, b: 2 });
  });

  it('gives every cluster at least 1, taken from the cluster with the most', () => {
    expect(split(4, { a: 10, b: 1, c: 1 })).toEqual({ a: 2, b: 1, c: 1 });
    expect(split(3, { a: 1000, b: 0 })).toEqual({ a: 2, b: 1 });
  });

  it('with fewer replicas than clusters, runs one on each (the total grows to the number of clusters)', () => {
    expect(split(1, { a: 1, b: 1, c: 1 })).toEqual({ a: 1, b: 1, c: 1 });
    expect(split(0, { a: 3, b: 1 })).toEqual({ a: 1, b: 1 });
  });

  it('splits evenly when no cluster has a weight above 0 (no free capacity anywhere)', () => {
    expect(split(4, { a: 0, b: 0 })).toEqual({ a: 2, b: 2 });
  });

  it('gives one cluster the whole total', () => {
    expect(split(6, { a: 1 })).toEqual({ a: 6 });
  });
});

describe('free CPU of a cluster', () => {
  const node = (name: string, cpu: string, ready = true, unschedulable = false): V1Node => ({
    metadata: { name },
    spec: { unschedulable },
    status: { allocatable: { cpu }, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  });
  const pod = (nodeName: string | undefined, cpu: string[], phase = 'Running', init: string[] = []): V1Pod => ({
    spec: {
      ...(nodeName ? { nodeName } : {}),
      containers: cpu.map((c, i) => ({ name: `c${i}`, resources: { requests: { cpu: c } } })),
      initContainers: init.map((c, i) => ({ name: `i${i}`, resources: { requests: { cpu: c } } })),
    },
    status: { phase },
  });

  it('reads CPU quantities in millicores', () => {
    expect(cpuMillis('2')).toBe(2000);
    expect(cpuMillis('1.5')).toBe(1500);
    expect(cpuMillis('250m')).toBe(250);
    expect(cpuMillis('500000u')).toBe(500);
    expect(cpuMillis('lots')).toBeUndefined();
  });

  it('is allocatable minus what the bound pods request, over the schedulable nodes', () => {
    const nodes = [node('n1', '2'), node('n2', '4'), node('down', '8', false), node('cordoned', '8', true, true)];
    const pods = [
      pod('n1', ['500m', '250m']),
      pod('n2', ['1']),
      pod('n2', ['3'], 'Succeeded'), // ended: holds nothing
      pod(undefined, ['1']), // pending, not bound: holds nothing yet
      pod('n1', ['100m'], 'Running', ['900m']), // an init container bigger than the containers counts
      pod('down', ['1']),
    ];
    expect(freeCpuMillis(nodes, pods)).toBe(2000 - 750 - 900 + (4000 - 1000));
  });

  it('never counts a full node below 0', () => {
    expect(freeCpuMillis([node('n1', '1'), node('n2', '1')], [pod('n1', ['3'])])).toBe(1000);
  });
});
