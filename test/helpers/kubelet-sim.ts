// A kubelet simulator: the fallback where a real kubelet cannot start (SLIPWAY_K8S_KUBELET=sim).
// It registers a Ready node and moves the pods bound to it to Running/Ready, as a kubelet reports them,
// after checking that the image exists in the registry (a missing tag stays Pending in ErrImagePull, so
// a bad image still ends in ProgressDeadlineExceeded). Nothing runs: pod IPs answer nothing.
// It announces itself loudly: a suite must never pass on a simulator without saying so.
import { CoreV1Api, Watch, type KubeConfig, type V1Pod, type V1Node } from '@kubernetes/client-node';

export interface KubeletSimOptions {
  readonly nodeName: string;
  /** host:port of the registry images are pulled from; images elsewhere are taken as present. */
  readonly registry?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Taint the node NoSchedule with this key (value "true"), so only pods that tolerate it land there. */
  readonly taintKey?: string;
  /** First three octets of the fake pod IPs. */
  readonly podNet?: string;
}

export class KubeletSim {
  private readonly core: CoreV1Api;
  private readonly opts: KubeletSimOptions;
  private watchAbort: AbortController | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private nextIp = 2;
  private readonly busy = new Set<string>();
  /** Pods this simulator marked Running, by namespace/name. */
  readonly started = new Set<string>();

  constructor(
    private readonly kc: KubeConfig,
    opts: KubeletSimOptions,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.opts = opts;
  }

  async start(): Promise<void> {
    console.warn(`\n*** KUBELET SIMULATOR on node ${this.opts.nodeName}: pods are marked Running, nothing runs ***\n`);
    const node: V1Node = {
      metadata: {
        name: this.opts.nodeName,
        labels: { 'kubernetes.io/hostname': this.opts.nodeName, 'slipway.dev/kubelet-sim': 'true', ...this.opts.labels },
      },
      spec: this.opts.taintKey ? { taints: [{ key: this.opts.taintKey, value: 'true', effect: 'NoSchedule' }] } : {},
    };
    await this.core.createNode({ body: node }).catch((e: unknown) => {
      if ((e as { code?: number }).code !== 409) throw e;
    });
    await this.reportNodeStatus();
    // The node lifecycle controller marks a silent node NotReady after 40 s.
    this.heartbeat = setInterval(() => void this.reportNodeStatus().catch(() => undefined), 5_000);
    this.watchAbort = await new Watch(this.kc).watch(
      '/api/v1/pods',
      { fieldSelector: `spec.nodeName=${this.opts.nodeName}` },
      (_phase, pod: V1Pod) => void this.sync(pod).catch((e: unknown) => console.warn(`kubelet-sim: ${String(e)}`)),
      () => undefined,
    );
  }

  stop(): void {
    this.watchAbort?.abort();
    if (this.heartbeat) clearInterval(this.heartbeat);
  }

  /** Right after the node is created the node lifecycle controller writes it too (taints, conditions),
   * as it does against a real kubelet: a conflict is retried on a fresh read. */
  private reportNodeStatus(): Promise<void> {
    return retryOnConflict(() => this.writeNodeStatus());
  }

  private async writeNodeStatus(): Promise<void> {
    const node = await this.core.readNode({ name: this.opts.nodeName });
    const now = new Date();
    node.status = {
      ...node.status,
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '4', memory: '8Gi', pods: '110' },
      conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet simulator', lastHeartbeatTime: now, lastTransitionTime: now }],
      nodeInfo: {
        architecture: 'amd64',
        bootID: '',
        containerRuntimeVersion: 'sim://0',
        kernelVersion: '',
        kubeProxyVersion: '',
        kubeletVersion: 'v1.20.2-sim',
        machineID: '',
        operatingSystem: 'linux',
        osImage: 'kubelet-sim',
        systemUUID: '',
      },
    };
    await this.core.replaceNodeStatus({ name: this.opts.nodeName, body: node });
  }

  private async imageExists(image: string): Promise<boolean> {
    const reg = this.opts.registry;
    if (!reg || !image.startsWith(`${reg}/`)) return true;
    const [repo, tag = 'latest'] = image.slice(reg.length + 1).split(':');
    const res = await fetch(`http://${reg}/v2/${repo}/manifests/${tag}`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    return res.ok;
  }

  private async sync(pod: V1Pod): Promise<void> {
    const ns = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const key = `${ns}/${name}`;
    if (this.busy.has(key)) return;
    this.busy.add(key);
    try {
      if (pod.metadata?.deletionTimestamp) {
        // A kubelet confirms a graceful delete by deleting with grace 0 once the containers are gone.
        await this.core.deleteNamespacedPod({ name, namespace: ns, gracePeriodSeconds: 0 }).catch(() => undefined);
        return;
      }
      if (this.started.has(key) || pod.status?.phase === 'Running') return;
      const pulled = await Promise.all((pod.spec?.containers ?? []).map((c) => this.imageExists(c.image ?? '')));
      const ok = pulled.every(Boolean);
      const ip = `${this.opts.podNet ?? '10.250.0'}.${this.nextIp++}`;
      await retryOnConflict(() => this.writePodStatus(pod, ok, ip, pulled));
      if (ok) this.started.add(key);
    } finally {
      this.busy.delete(key);
    }
  }

  private async writePodStatus(pod: V1Pod, ok: boolean, ip: string, pulled: readonly boolean[]): Promise<void> {
    const ns = pod.metadata?.namespace ?? 'default';
    const name = pod.metadata?.name ?? '';
    const containers = pod.spec?.containers ?? [];
    const now = new Date();
    const fresh = await this.core.readNamespacedPod({ name, namespace: ns });
    fresh.status = {
      ...fresh.status,
      phase: ok ? 'Running' : 'Pending',
      hostIP: '127.0.0.1',
      ...(ok ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: now,
      conditions: [
        { type: 'Initialized', status: 'True', lastTransitionTime: now },
        { type: 'ContainersReady', status: ok ? 'True' : 'False', lastTransitionTime: now },
        { type: 'Ready', status: ok ? 'True' : 'False', lastTransitionTime: now },
        { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
      ],
      containerStatuses: containers.map((c, i) => ({
        name: c.name,
        image: c.image ?? '',
        imageID: '',
        ready: pulled[i] === true,
        restartCount: 0,
        started: pulled[i] === true,
        state: pulled[i] ? { running: { startedAt: now } } : { waiting: { reason: 'ErrImagePull', message: `kubelet-sim: ${c.image} not in registry` } },
      })),
    };
    await this.core.replaceNamespacedPodStatus({ name, namespace: ns, body: fresh });
  }
}

/** Runs a read-modify-write again (up to 10 times) when the apiserver answers 409 Conflict. */
async function retryOnConflict(write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (e) {
      if ((e as { code?: number }).code !== 409 || attempt >= 10) throw e;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}
