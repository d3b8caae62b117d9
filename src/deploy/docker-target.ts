import { connect } from 'node:net';
import type Dockerode from 'dockerode';
import { dockerStatus } from '../executors/docker-errors.js';
import { ensureImage } from '../executors/docker-image.js';
import { lastLogLines } from './container-logs.js';
import { DeployFailedError } from './deploy-errors.js';
import {
  assertName,
  LABELS,
  otherSlot,
  pickLive,
  RELEASED_RESTART_POLICY,
  serviceContainerName,
  slotPort,
  toServiceContainerOptions,
  type Slot,
  type SlotContainer,
} from './docker-spec.js';
import { waitHealthy } from './health-check.js';
import { messageOf } from '../errors/errors.js';
import type { NginxFrontProxy } from '../frontproxy/nginx.js';
import type { AppliedRelease, DeployTarget, ReleaseSpec, Verdict } from './deploy-target.js';
import { rollOut } from './roll-out.js';

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

/** The docker target's applied release: which slot it went to. */
export interface DockerRelease extends AppliedRelease {
  slot: Slot;
}

/** One Docker host: apply → verdict → roll back, no rollout of its own (`rollOut`). */
export interface DockerTarget extends Omit<DeployTarget, 'rollOut'> {
  apply(spec: ReleaseSpec, onLog: (line: string) => void): Promise<DockerRelease>;
  readonly canary: NonNullable<DeployTarget['canary']>;
}

export interface DockerTargetOptions {
  /** Where the engine's ports are reachable from this worker; 127.0.0.1 for a local engine. */
  host?: string;
  /** The front proxy (nginx) for releases whose spec has `frontProxyPort`: weights and the switch happen there. */
  frontProxy?: NginxFrontProxy;
  /** The address the front proxy listens on (default 127.0.0.1). */
  frontProxyHost?: string;
}

/** How long a canary may fail its health check during a step before it is aborted. */
const CANARY_CHECK_MS = 5_000;

/**
 * The `DeployTarget` on one Docker host (contract in `deploy-target.ts`): health-checked blue/green
 * by ports. `apply` starts the release in the slot that is not live, `waitForVerdict` polls its
 * health URL and then removes the previous release, `rollBack` removes the new container (the old
 * one never stopped). An engine error before the switch is an unhealthy verdict (the old release
 * still serves, so rolling back is safe); only a failure to remove the previous release after the
 * switch rejects. `host` is where the engine's ports are reachable from this worker.
 *
 * With a front proxy (the spec's `frontProxyPort`), clients use nginx's fixed address: the switch
 * is one change of its upstream once the new release is healthy, made before the old release is
 * stopped, and a canary's weights (`canary`) are set there too. A rollback first sends everything
 * back to the live release, then removes the new one.
 */
export function createDockerTarget(docker: Dockerode, opts: DockerTargetOptions = {}): DockerTarget {
  const host = opts.host ?? '127.0.0.1';
  const proxyHost = opts.frontProxyHost ?? '127.0.0.1';
  const proxy = opts.frontProxy;

  /** The live release's port other than `release`'s, or undefined when `release` is the only one. */
  const stablePort = async (release: AppliedRelease): Promise<number | undefined> => {
    const others = (await listSlots(docker, release.spec.service, release.spec.environment)).filter((c) => c.id !== release.id);
    const live = pickLive(others);
    return live ? Number(live.labels[LABELS.port]) : undefined;
  };

  /** Sends `canaryWeight` percent to `release` and the rest to `stable` through nginx; no-op without a front proxy. */
  const route = async (spec: ReleaseSpec, to: { stable?: number; canary?: number; canaryWeight: number }, onLog: (line: string) => void) => {
    if (!proxy || spec.frontProxyPort === undefined) return;
    const backends = [
      ...(to.stable !== undefined ? [{ role: 'stable' as const, host, port: to.stable, weight: 100 - to.canaryWeight }] : []),
      ...(to.canary !== undefined ? [{ role: 'canary' as const, host, port: to.canary, weight: to.canaryWeight }] : []),
    ];
    await proxy.setRoute({ service: spec.service, environment: spec.environment, listen: { host: proxyHost, port: spec.frontProxyPort }, backends }, onLog);
  };

  /** All traffic to `release`, then every other release of the environment retired. */
  const promote = async (release: AppliedRelease, onLog: (line: string) => void): Promise<void> => {
    const container = docker.getContainer(release.id);
    await container.update({ RestartPolicy: RELEASED_RESTART_POLICY, abortSignal: api() });
    await route(release.spec, { canary: slotPort(release.spec.port, (release as DockerRelease).slot), canaryWeight: 100 }, onLog);
    onLog(`${release.url} serves all traffic; removing the previous release`);
    const others = (await listSlots(docker, release.spec.service, release.spec.environment)).filter((c) => c.id !== release.id);
    for (const c of others) await removeContainer(docker, c.id, 10);
  };

  const health = async (release: AppliedRelease, timeoutMs: number): Promise<Verdict> => {
    const container = docker.getContainer(release.id);
    try {
      const verdict = await waitHealthy(container, `${release.url}${release.spec.healthPath}`, timeoutMs);
      return verdict.healthy ? verdict : { healthy: false, reason: verdict.reason, lastLogs: await lastLogLines(container, 20, 10_000) };
    } catch (err) {
      // The engine failed us before the switch: the old release still serves, so this is a bad verdict.
      return { healthy: false, reason: `release did not start: ${messageOf(err)}`, lastLogs: await lastLogLines(container, 20, 10_000) };
    }
  };

  const address = (spec: ReleaseSpec): { address?: string } =>
    proxy && spec.frontProxyPort !== undefined ? { address: urlOf(proxyHost, spec.frontProxyPort) } : {};

  return {
    kind: 'docker',

    async apply(spec, onLog) {
      const service = assertName('service', spec.service);
      const environment = assertName('environment', spec.environment);
      if (spec.frontProxyPort !== undefined && !proxy) {
        throw new DeployFailedError(
          `${service}/${environment} is served through the front proxy (front_proxy port ${spec.frontProxyPort}), but this deploy worker has none: set SLIPWAY_FRONT_PROXY_DIR`,
        );
      }
      const containers = await listSlots(docker, service, environment);
      const live = pickLive(containers);
      if (live && live.labels[LABELS.release] === spec.runId) {
        const slot = slotOf(live);
        onLog(`release ${spec.runId} is already live in slot ${slot}`);
        // A retry after a crash between the switch and the end of the job: the proxy serves it alone.
        await route(spec, { canary: slotPort(spec.port, slot), canaryWeight: 100 }, onLog);
        return { spec, url: urlOf(host, slotPort(spec.port, slot)), ...address(spec), id: live.id, slot, alreadyLive: true };
      }

      const slot: Slot = live ? otherSlot(slotOf(live)) : 'blue';
      const port = slotPort(spec.port, slot);
      const url = urlOf(host, port);
      // Before the target slot is cleared: a route left by a crashed attempt may still send it traffic.
      if (live) await route(spec, { stable: Number(live.labels[LABELS.port]), canaryWeight: 0 }, onLog);
      // Whatever sits in the target slot is not live (a failed or crashed attempt): clear it.
      for (const c of containers.filter((c) => c.id !== live?.id)) await removeContainer(docker, c.id, 0);
      if (await portAnswers(host, port)) {
        throw new DeployFailedError(`slot port ${port} is already in use by a process that is not ${service}/${environment}`);
      }
      await ensureImage(docker, spec.image, { policy: 'missing', apiTimeoutMs: API_MS, pullTimeoutMs: 10 * 60_000 });

      onLog(`starting ${spec.image} in slot ${slot} on port ${port}`);
      const container = await docker.createContainer({
        ...toServiceContainerOptions({
          service,
          environment,
          slot,
          basePort: spec.port,
          image: spec.image,
          env: spec.env,
          runId: spec.runId,
          ...(spec.command ? { command: spec.command } : {}),
        }),
        abortSignal: api(),
      });
      try {
        await container.start({ abortSignal: api() });
      } catch (err) {
        const logs = await lastLogLines(container, 20, 10_000);
        await removeContainer(docker, container.id, 0);
        throw new DeployFailedError(`release did not start: ${messageOf(err)}`, logs);
      }
      const replaces = live?.labels[LABELS.release];
      return { spec, url, ...address(spec), id: container.id, slot, alreadyLive: false, ...(replaces ? { replaces } : {}) };
    },

    async waitForVerdict(release, { timeoutMs, onLog, prePromotion }) {
      if (release.alreadyLive) return { healthy: true };
      const verdict = await health(release, timeoutMs);
      if (!verdict.healthy) return verdict;
      onLog(`${release.url}${release.spec.healthPath} is healthy`);
      // Blue-green's prePromotionAnalysis: the previous release still gets every request meanwhile.
      if (prePromotion && (await stablePort(release)) !== undefined) {
        const slot = (release as DockerRelease).slot;
        onLog(`prePromotionAnalysis of slot ${slot} (${release.url}) before the switch; the previous release serves meanwhile`);
        const gate = await prePromotion({ slot }).catch((e: unknown) => ({ healthy: false as const, reason: messageOf(e), lastLogs: [] }));
        if (!gate.healthy) return { healthy: false, reason: `prePromotionAnalysis failed, not switched: ${gate.reason}`, lastLogs: gate.lastLogs };
      } else if (prePromotion) {
        onLog('no previous release: prePromotionAnalysis is skipped on a first deploy, as Argo Rollouts does');
      }
      try {
        await promote(release, onLog);
      } catch (err) {
        // nginx refused the switch: the previous release still serves everything, so roll back.
        if (err instanceof Error && err.name === 'FrontProxyError') return { healthy: false, reason: err.message, lastLogs: [] };
        throw err;
      }
      return { healthy: true };
    },

    async rollBack(release, onLog) {
      if (release.alreadyLive) return;
      const stable = await stablePort(release);
      if (stable !== undefined) await route(release.spec, { stable, canaryWeight: 0 }, onLog);
      await removeContainer(docker, release.id, 0);
    },

    async describe(service, environment) {
      const live = await currentRelease(docker, service, environment, host);
      if (!live) return null;
      const digest = digestOf(live.image);
      const fixed = await proxy?.current(service, environment);
      const url = fixed ? urlOf(fixed.listen.host, fixed.listen.port) : live.url;
      return { runId: live.runId, image: live.image, url, ...(digest ? { digest } : {}) };
    },

    canary: {
      waitHealthy: (release, { timeoutMs }) => (release.alreadyLive ? Promise.resolve({ healthy: true }) : health(release, timeoutMs)),

      async setWeight(release, weight, onLog) {
        if (!proxy || release.spec.frontProxyPort === undefined) {
          throw new DeployFailedError('a canary on the Docker host needs the front proxy: give the environment front_proxy: { port: N }');
        }
        const stable = await stablePort(release);
        const canary = slotPort(release.spec.port, (release as DockerRelease).slot);
        await route(release.spec, stable === undefined ? { canary, canaryWeight: 100 } : { stable, canary, canaryWeight: weight }, onLog);
      },

      check: (release) => health(release, CANARY_CHECK_MS),

      promote,
    },
  };
}

/**
 * Health-checked blue/green replace on one Docker host: `rollOut()` on the docker target. Caller:
 * tests and tools that deploy one release; the deploy job goes through the `DeployTarget` seam.
 * Idempotent per runId. On failure the old release keeps serving and a DeployFailedError says why.
 */
export async function deployRelease(docker: Dockerode, opts: DeployReleaseOptions): Promise<DeployedRelease> {
  const { basePort, healthTimeoutMs, onLog, host, ...rest } = opts;
  const release = await rollOut(createDockerTarget(docker, host ? { host } : {}), { ...rest, port: basePort }, { timeoutMs: healthTimeoutMs, onLog });
  return { url: release.url, slot: release.slot, containerId: release.id, ...(release.replaces ? { replaced: release.replaces } : {}) };
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
  return list.filter((c) => c.Names.some((n) => names.has(n))).map((c) => ({ id: c.Id, state: c.State, created: c.Created, labels: c.Labels }));
}

function slotOf(c: SlotContainer): Slot {
  return c.labels[LABELS.slot] === 'green' ? 'green' : 'blue';
}

/** The registry digest of a reference deployed by digest (host/repo@sha256:...). */
function digestOf(ref: string): string | undefined {
  const at = ref.lastIndexOf('@');
  return at >= 0 && ref.slice(at + 1).startsWith('sha256:') ? ref.slice(at + 1) : undefined;
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
