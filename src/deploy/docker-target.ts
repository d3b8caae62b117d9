import { connect } from 'node:net';
import type Dockerode from 'dockerode';
import { dockerStatus } from '../executors/docker-errors.js';
import { ensureImage } from '../executors/docker-image.js';
import { lastLogLines } from './container-logs.js';
import { DeployFailedError } from './deploy-errors.js';
import {
  assertName, LABELS, otherSlot, pickLive, RELEASED_RESTART_POLICY, serviceContainerName, slotPort, toServiceContainerOptions,
  type Slot, type SlotContainer,
} from './docker-spec.js';
import { waitHealthy } from './health-check.js';

export interface DeployReleaseOptions {
  service: string;
  environment: string;
  /** Preferably by digest (host/repo@sha256:...); pulled when not on the engine. */
  image: string;
  command?: string[];
  env: Record<string, string>;
  basePort: number;
  healthPath: string;
  healthTimeoutMs: number;
  /** The run that produced this release; deploying the same runId again is a no-op when it is live. */
  runId: string;
  onLog: (line: string) => void;
  /** Where the Docker host's ports are reachable from this worker; 127.0.0.1 for a local engine. */
  host?: string;
}

export interface DeployedRelease {
  url: string;
  slot: Slot;
  containerId: string;
  /** runId of the release this one replaced, if one was live. */
  replaced?: string;
}

export interface LiveRelease {
  url: string;
  image: string;
  runId: string;
  slot: Slot;
  containerId: string;
}

const API_MS = 30_000;
const api = (): AbortSignal => AbortSignal.timeout(API_MS);

/**
 * Health-checked blue/green replace on one Docker host. Caller: the deploy
 * job, holding the (service, environment) lock, so no two deploys of one
 * environment interleave. Idempotent per runId; a retry after a crash
 * finds the half-done slot, removes it and starts over. On failure the old
 * release keeps serving and a DeployFailedError says why.
 */
export async function deployRelease(docker: Dockerode, opts: DeployReleaseOptions): Promise<DeployedRelease> {
  const service = assertName('service', opts.service);
  const environment = assertName('environment', opts.environment);
  const host = opts.host ?? '127.0.0.1';
  const containers = await listSlots(docker, service, environment);
  const live = pickLive(containers);
  if (live && live.labels[LABELS.release] === opts.runId) {
    const slot = slotOf(live);
    opts.onLog(`release ${opts.runId} is already live in slot ${slot}`);
    return { url: urlOf(host, slotPort(opts.basePort, slot)), slot, containerId: live.id };
  }

  const slot: Slot = live ? otherSlot(slotOf(live)) : 'blue';
  const port = slotPort(opts.basePort, slot);
  const url = urlOf(host, port);
  // Whatever sits in the target slot is not live (a failed or crashed attempt): clear it.
  for (const c of containers.filter((c) => c.id !== live?.id)) await removeContainer(docker, c.id, 0);
  if (await portAnswers(host, port)) {
    throw new DeployFailedError(`slot port ${port} is already in use by a process that is not ${service}/${environment}`);
  }
  await ensureImage(docker, opts.image, { policy: 'missing', apiTimeoutMs: API_MS, pullTimeoutMs: 10 * 60_000 });

  opts.onLog(`starting ${opts.image} in slot ${slot} on port ${port}`);
  const container = await docker.createContainer({
    ...toServiceContainerOptions({ service, environment, slot, basePort: opts.basePort, image: opts.image, env: opts.env, runId: opts.runId, ...(opts.command ? { command: opts.command } : {}) }),
    abortSignal: api(),
  });
  try {
    await container.start({ abortSignal: api() });
    const verdict = await waitHealthy(container, `${url}${opts.healthPath}`, opts.healthTimeoutMs);
    if (!verdict.healthy) throw new DeployFailedError(verdict.reason, await lastLogLines(container, 20, 10_000));
    await container.update({ RestartPolicy: RELEASED_RESTART_POLICY, abortSignal: api() });
  } catch (err) {
    const logs = err instanceof DeployFailedError ? undefined : await lastLogLines(container, 20, 10_000);
    await removeContainer(docker, container.id, 0);
    if (logs === undefined) throw err;
    throw new DeployFailedError(`release did not start: ${err instanceof Error ? err.message : String(err)}`, logs);
  }

  opts.onLog(`${url}${opts.healthPath} is healthy; removing the previous release`);
  if (live) await removeContainer(docker, live.id, 10);
  const replaced = live?.labels[LABELS.release];
  return { url, slot, containerId: container.id, ...(replaced ? { replaced } : {}) };
}

/** The release serving (service, environment), or null when none runs. */
export async function currentRelease(docker: Dockerode, service: string, environment: string, host = '127.0.0.1'): Promise<LiveRelease | null> {
  const live = pickLive(await listSlots(docker, assertName('service', service), assertName('environment', environment)));
  if (!live) return null;
  const info = await docker.getContainer(live.id).inspect({ abortSignal: api() });
  return {
    url: urlOf(host, Number(live.labels[LABELS.port])),
    image: info.Config.Image,
    runId: live.labels[LABELS.release] ?? '',
    slot: slotOf(live),
    containerId: live.id,
  };
}

async function listSlots(docker: Dockerode, service: string, environment: string): Promise<SlotContainer[]> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${LABELS.service}=${service}`, `${LABELS.environment}=${environment}`] },
    abortSignal: api(),
  });
  const names = new Set((['blue', 'green'] as const).map((s) => `/${serviceContainerName(service, environment, s)}`));
  // Only our two slot names count, so a stray container that copied our labels is never touched.
  return list
    .filter((c) => c.Names.some((n) => names.has(n)))
    .map((c) => ({ id: c.Id, state: c.State, created: c.Created, labels: c.Labels }));
}

function slotOf(c: SlotContainer): Slot {
  return c.labels[LABELS.slot] === 'green' ? 'green' : 'blue';
}

function urlOf(host: string, port: number): string {
  return `http://${host}:${port}`;
}

/** Stops gracefully (SIGTERM, then SIGKILL after graceSeconds) and removes; gone already is fine. */
async function removeContainer(docker: Dockerode, id: string, graceSeconds: number): Promise<void> {
  const c = docker.getContainer(id);
  if (graceSeconds > 0) await c.stop({ t: graceSeconds, abortSignal: AbortSignal.timeout(API_MS + graceSeconds * 1000) }).catch(() => undefined);
  await c.remove({ force: true, v: true, abortSignal: api() }).catch((err: unknown) => {
    if (dockerStatus(err) !== 404) throw err;
  });
}

/** A foreign process on the slot port would answer our health check and fake a healthy release. */
function portAnswers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1_000 });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
