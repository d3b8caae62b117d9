import Dockerode from 'dockerode';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/config/config.js';
import { createImageBuilder } from '../../../src/roles/create-image-builder.js';

const base = { GITLAB_URL: 'https://gitlab.example.com', GITLAB_TOKEN: 'glpat-secret-value', SLIPWAY_WEBHOOK_SECRET: 'hook-secret' };
// Never dialled: choosing a builder talks to no engine.
const docker = new Dockerode({ socketPath: '/nonexistent/docker.sock' });

function builderFor(env: Record<string, string>) {
  const r = readConfig({ ...base, ...env });
  if (!r.ok) throw new Error(r.problems.join('; '));
  return createImageBuilder(r.config.imageBuilder, { docker, registry: r.config.registry.host });
}

describe('the image builder chosen by SLIPWAY_IMAGE_BUILDER', () => {
  it('is BuildKit by default', () => {
    expect(builderFor({}).kind).toBe('buildkit');
  });

  it('is the classic builder when asked for', () => {
    expect(builderFor({ SLIPWAY_IMAGE_BUILDER: 'classic' }).kind).toBe('classic');
  });

  it('refuses an unknown builder by name', () => {
    const r = readConfig({ ...base, SLIPWAY_IMAGE_BUILDER: 'kaniko' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems.join('\n')).toMatch(/SLIPWAY_IMAGE_BUILDER must be buildkit or classic/);
  });
});
