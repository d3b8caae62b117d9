import type { ContainerCreateOptions } from 'dockerode';
import { MANAGED_LABEL, type StepSpec } from './types.js';

// Docker names allow [a-zA-Z0-9][a-zA-Z0-9_.-]*; we lower-case and replace the
// rest so an id built from branch names can never break the name or collide
// by case. Capped so long ids stay well under the engine's limits.
const MAX_NAME = 200;

export function stepContainerName(id: string): string {
  const safe = id.toLowerCase().replace(/[^a-z0-9_.-]/g, '-');
  return `slipway-step-${safe}`.slice(0, MAX_NAME);
}

/** Env keys with '=' or NUL would be re-split by the engine; reject rather than mangle. */
export function toEnvList(env: Record<string, string>): string[] {
  return Object.entries(env).map(([key, value]) => {
    if (key === '' || key.includes('=') || key.includes('\0') || value.includes('\0')) {
      throw new Error(`invalid environment variable name: ${JSON.stringify(key)}`);
    }
    return `${key}=${value}`;
  });
}

/**
 * Pure: StepSpec → the engine's create body. argv is split into Entrypoint
 * and Cmd so an image's own ENTRYPOINT can never wrap or swallow our argv.
 * Mounts use the structured `Mounts` form, not `Binds` strings, because a
 * path containing ':' would be mis-parsed in the string form.
 */
export function toContainerCreateOptions(spec: StepSpec): ContainerCreateOptions {
  const [entrypoint, ...args] = spec.argv;
  if (entrypoint === undefined) throw new Error(`step ${spec.id}: argv is empty`);
  return {
    name: stepContainerName(spec.id),
    Image: spec.image,
    Entrypoint: [entrypoint],
    Cmd: args,
    Env: toEnvList(spec.env),
    WorkingDir: spec.workdir,
    Labels: { ...spec.labels, [MANAGED_LABEL]: 'true', 'io.slipway.step': spec.id },
    Tty: false,
    OpenStdin: false,
    AttachStdin: false,
    AttachStdout: true,
    AttachStderr: true,
    HostConfig: {
      ...resourceOptions(spec),
      NetworkMode: spec.network,
      AutoRemove: false, // we read the exit code first, then remove ourselves
      Mounts: spec.mounts.map((m) => ({
        Type: 'bind' as const,
        Source: m.source,
        Target: m.target,
        ReadOnly: m.readOnly ?? false,
      })),
    },
  };
}

/**
 * `resources:` as the engine's cgroup settings, the way the kubelet sets them: a cpu limit is a CFS
 * quota (NanoCpus), a cpu request the relative weight (1024 shares per core), a memory limit the hard
 * limit, a memory request the soft reservation.
 */
function resourceOptions(spec: StepSpec): { Memory?: number; MemoryReservation?: number; NanoCpus?: number; CpuShares?: number } {
  const r = spec.resources;
  const out: { Memory?: number; MemoryReservation?: number; NanoCpus?: number; CpuShares?: number } = {};
  if (r?.limits?.memoryBytes !== undefined) out.Memory = r.limits.memoryBytes;
  if (r?.requests?.memoryBytes !== undefined) out.MemoryReservation = r.requests.memoryBytes;
  if (r?.limits?.cpuMillis !== undefined) out.NanoCpus = r.limits.cpuMillis * 1_000_000;
  if (r?.requests?.cpuMillis !== undefined) out.CpuShares = Math.max(2, Math.round((r.requests.cpuMillis * 1024) / 1000));
  return out;
}
