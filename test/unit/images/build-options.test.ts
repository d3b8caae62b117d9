import { describe, expect, it } from 'vitest';
import { imageLabels, splitTag, toBuildOptions } from '../../../src/images/build-options.js';
import { registryBaseUrl } from '../../../src/registry/registry-digest.js';

describe('toBuildOptions', () => {
  it('converts a build request by value', () => {
    const labels = imageLabels({ sha: 'a'.repeat(40), project: 'g/app', runId: 'r1' });
    expect(toBuildOptions({ dockerfile: 'docker/Dockerfile', tags: ['r/app:1', 'r/app:latest'], labels, buildArgs: { V: '1' } })).toEqual({
      dockerfile: 'docker/Dockerfile',
      t: 'r/app:1',
      labels: { 'org.opencontainers.image.revision': 'a'.repeat(40), 'io.slipway.project': 'g/app', 'io.slipway.run': 'r1' },
      buildargs: { V: '1' },
      rm: true,
      forcerm: true,
      networkmode: 'host',
    });
    expect(() => toBuildOptions({ dockerfile: 'D', tags: [], labels: {}, buildArgs: {} })).toThrow(/at least one tag/);
  });

  it('splits tags after the registry port', () => {
    expect(splitTag('127.0.0.1:5050/g/app:v1')).toEqual({ repo: '127.0.0.1:5050/g/app', tag: 'v1' });
    expect(splitTag('127.0.0.1:5050/g/app')).toEqual({ repo: '127.0.0.1:5050/g/app', tag: 'latest' });
  });

  it('uses plain http only for loopback registries', () => {
    expect(registryBaseUrl('127.0.0.1:5050')).toBe('http://127.0.0.1:5050');
    expect(registryBaseUrl('harbor.example.com')).toBe('https://harbor.example.com');
  });
});
