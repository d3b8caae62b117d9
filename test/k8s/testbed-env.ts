// What the k8s suite needs from `.ci/k8s-testbed.sh env`, read once and checked.
export type ClusterName = 'a' | 'b';

export interface TestbedCluster {
  readonly name: ClusterName;
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly caPath: string;
  readonly tlsCertPath: string;
  readonly tlsKeyPath: string;
  readonly nodeName: string;
}

export interface Testbed {
  readonly netns: string;
  readonly kubelet: 'real' | 'sim';
  /** kube-proxy's mode on every node; 'none' on the kubelet simulator (no pods to route to). */
  readonly proxy: 'iptables' | 'userspace' | 'none';
  readonly registry: string;
  readonly dockerHost: string;
  readonly kubectl: string;
  readonly busybox: string;
  readonly clusters: Readonly<Record<ClusterName, TestbedCluster>>;
}

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run this suite through \`bash .ci/k8s-testbed.sh test\``);
  }
  return v;
}

function cluster(name: ClusterName): TestbedCluster {
  const C = name.toUpperCase();
  return {
    name,
    kubeconfigPath: need(`SLIPWAY_K8S_KUBECONFIG_${C}`),
    server: need(`SLIPWAY_K8S_SERVER_${C}`),
    caPath: need(`SLIPWAY_K8S_CA_${C}`),
    tlsCertPath: need(`SLIPWAY_K8S_TLS_CERT_${C}`),
    tlsKeyPath: need(`SLIPWAY_K8S_TLS_KEY_${C}`),
    nodeName: need(`SLIPWAY_K8S_NODE_${C}`),
  };
}

export function testbed(): Testbed {
  const kubelet = need('SLIPWAY_K8S_KUBELET');
  if (kubelet !== 'real' && kubelet !== 'sim') throw new Error(`SLIPWAY_K8S_KUBELET=${kubelet}`);
  const proxy = need('SLIPWAY_K8S_PROXY');
  if (proxy !== 'iptables' && proxy !== 'userspace' && proxy !== 'none') throw new Error(`SLIPWAY_K8S_PROXY=${proxy}`);
  return {
    netns: need('SLIPWAY_K8S_NETNS'),
    kubelet,
    proxy,
    registry: need('SLIPWAY_K8S_REGISTRY'),
    dockerHost: need('SLIPWAY_K8S_DOCKER_HOST'),
    kubectl: need('SLIPWAY_K8S_KUBECTL'),
    busybox: need('SLIPWAY_K8S_BUSYBOX'),
    clusters: { a: cluster('a'), b: cluster('b') },
  };
}
