import type { ContainerCreateOptions } from 'dockerode';
import { toEnvList } from '../executors/container-options.js';
import { MANAGED_LABEL } from '../executors/types.js';

/**
 * Blue/green by ports: the engine has no bridge network, so two releases
 * cannot share a port. Each environment owns two slot ports, basePort (blue)
 * and basePort+1 (green); a new release goes to the slot that is not live.
 */
export type Slot = 'blue' | 'green';

export const LABELS = {
  service: 'io.slipway.service',
  environment: 'io.slipway.environment',
  release: 'io.slipway.release',
  slot: 'io.slipway.slot',
  port: 'io.slipway.port',
} as const;

// Names go into container names and label filters: check, never rewrite,
// so two services can never map onto one name.
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function assertName(kind: string, value: string): string {
  if (!NAME.test(value)) throw new Error(`invalid ${kind} name ${JSON.stringify(value)} (want ${NAME.source})`);
  return value;
}

export function slotPort(basePort: number, slot: Slot): number {
  return slot === 'blue' ? basePort : basePort + 1;
}

export function otherSlot(slot: Slot): Slot {
  return slot === 'blue' ? 'green' : 'blue';
}

export function serviceContainerName(service: string, environment: string, slot: Slot): string {
  return `slipway-svc-${service}-${environment}-${slot}`;
}

export interface ServiceContainerSpec {
  service: string;
  environment: string;
  slot: Slot;
  basePort: number;
  image: string;
  command?: string[];
  env: Record<string, string>;
  runId: string;
}

/**
 * Pure: one release in one slot → the engine's create body. PORT is set
 * last so the slot, not the template, decides the port. No restart policy
 * while the health check runs, so a crash is final and its exit code exact;
 * RELEASED_RESTART_POLICY is applied once the release is healthy.
 */
export function toServiceContainerOptions(spec: ServiceContainerSpec): ContainerCreateOptions {
  const port = slotPort(spec.basePort, spec.slot);
  const [entrypoint, ...args] = spec.command ?? [];
  return {
    name: serviceContainerName(spec.service, spec.environment, spec.slot),
    Image: spec.image,
    ...(entrypoint === undefined ? {} : { Entrypoint: [entrypoint], Cmd: args }),
    Env: toEnvList({ ...spec.env, PORT: String(port) }),
    Labels: {
      [MANAGED_LABEL]: 'true',
      [LABELS.service]: spec.service,
      [LABELS.environment]: spec.environment,
      [LABELS.release]: spec.runId,
      [LABELS.slot]: spec.slot,
      [LABELS.port]: String(port),
    },
    HostConfig: {
      NetworkMode: 'host',
      // An init as PID 1 forwards SIGTERM, so a replaced release stops at once instead of after the grace period.
      Init: true,
      RestartPolicy: { Name: 'no' },
    },
  };
}

/** Keeps a healthy release up across crashes and engine restarts. */
export const RELEASED_RESTART_POLICY = { Name: 'unless-stopped', MaximumRetryCount: 0 } as const;

/** The fields of a container listing we decide on. */
export interface SlotContainer {
  id: string;
  state: string;
  created: number;
  labels: Record<string, string>;
}

/**
 * The live release among a service's containers: the running one. If a
 * crashed deploy left both slots running, the older one is live, because the
 * newer one never finished its switch-over; the next deploy replaces it.
 */
export function pickLive(containers: readonly SlotContainer[]): SlotContainer | undefined {
  return containers
    .filter((c) => c.state === 'running' && (c.labels[LABELS.slot] === 'blue' || c.labels[LABELS.slot] === 'green'))
    .sort((a, b) => a.created - b.created)[0];
}
