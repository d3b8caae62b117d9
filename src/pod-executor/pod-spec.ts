import { createHash } from 'node:crypto';
import type { V1NetworkPolicy, V1Pod, V1ResourceRequirements, V1Secret } from '@kubernetes/client-node';
import { MANAGED_LABEL, type StepAmounts, type StepResources, type StepSpec } from '../executors/types.js';

/** The container that runs the step: its logs are the step's log, its exit code the step's result. */
export const STEP_CONTAINER = 'step';
/** Init container that holds the step back until the work tree has been copied into the Pod. */
export const INBOX_CONTAINER = 'slipway-in';
/** Sidecar that outlives the step, so the work tree can be copied back out of the Pod. */
export const OUTBOX_CONTAINER = 'slipway-out';
/** Helper volume: the marker that the copy-in is complete. */
export const CONTROL_DIR = '/slipway';
export const READY_FILE = `${CONTROL_DIR}/ready`;
/** Label on every object of one step, for the leftover sweep and the NetworkPolicy's selector. */
export const STEP_LABEL = 'slipway.dev/step';

/**
 * The Pod is bounded by `activeDeadlineSeconds` too (the kubelet kills it when Slipway is gone):
 * the step's timeout plus this margin for scheduling, image pulls and copying the work tree.
 */
export const SETUP_MARGIN_SECONDS = 600;

// Names of objects: a DNS label (63 characters) derived from the step id by hash, so a branch name
// in the id can never break or lengthen it, and a retried crash of the same id finds its leftover.
export function stepObjectName(id: string): string {
  return `slipway-step-${createHash('sha256').update(id).digest('hex').slice(0, 20)}`;
}

/** Where the helper containers see mount `i` (the step sees it at its own target). */
export function helperPath(i: number): string {
  return `${CONTROL_DIR}/m${i}`;
}

// What Kubernetes 1.20 accepts as a name from `envFrom` (IsEnvVarName); others would be dropped
// silently by the kubelet, so they are refused here instead.
const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export function checkEnv(env: Record<string, string>): void {
  for (const key of Object.keys(env)) {
    if (!ENV_NAME.test(key)) {
      throw new Error(`invalid environment variable name for a Kubernetes Pod: ${JSON.stringify(key)} (letters, digits, _ . -; not starting with a digit)`);
    }
  }
}

export function toResourceRequirements(r: StepResources | undefined): V1ResourceRequirements | undefined {
  if (!r) return undefined;
  const pick = (q: StepAmounts | undefined): Record<string, string> | undefined => {
    if (!q) return undefined;
    const out: Record<string, string> = {};
    if (q.cpuMillis !== undefined) out.cpu = `${q.cpuMillis}m`;
    if (q.memoryBytes !== undefined) out.memory = String(q.memoryBytes);
    return out;
  };
  const requests = pick(r.requests);
  const limits = pick(r.limits);
  return { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
}

export interface StepObjects {
  name: string;
  pod: V1Pod;
  /** Every variable of the step: kept out of the Pod spec, given to the step through `envFrom`. */
  secret: (ownerUid: string) => V1Secret;
  /** Deny-all for `network: none` (enforced where the cluster's network plugin enforces policies). */
  networkPolicy: ((ownerUid: string) => V1NetworkPolicy) | undefined;
}

/**
 * Pure: StepSpec → the Pod (and the objects owned by it). One Pod per step call: an init container
 * of the helper image waits until the work tree is copied into emptyDir volumes at the mounts'
 * targets; then the step container runs `argv` as command (never through a shell of ours) with the
 * variables from a Secret; a helper sidecar keeps the Pod open after the step so the work tree can
 * be copied back out.
 */
export function toStepObjects(spec: StepSpec, namespace: string, helperImage: string): StepObjects {
  const [command, ...args] = spec.argv;
  if (command === undefined) throw new Error(`step ${spec.id}: argv is empty`);
  checkEnv(spec.env);
  const name = stepObjectName(spec.id);
  const hash = name.slice('slipway-step-'.length);
  const labels = { [MANAGED_LABEL]: 'true', [STEP_LABEL]: hash };
  // The caller's labels name run and job (free text): annotations take any value, labels do not.
  const annotations = { ...spec.labels, 'slipway.dev/step-id': spec.id };
  const deadline = Math.ceil(spec.timeoutMs / 1000) + SETUP_MARGIN_SECONDS;
  const control = { name: 'slipway-control', mountPath: CONTROL_DIR };
  const helperMounts = [control, ...spec.mounts.map((_, i) => ({ name: `ws-${i}`, mountPath: helperPath(i) }))];
  const resources = toResourceRequirements(spec.resources);
  const owned = (uid: string) => [{ apiVersion: 'v1', kind: 'Pod', name, uid, controller: true, blockOwnerDeletion: false }];
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels, annotations },
    spec: {
      restartPolicy: 'Never',
      activeDeadlineSeconds: deadline,
      // A step is repository code: it gets no API token of the namespace and no service variables.
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 1,
      volumes: [{ name: 'slipway-control', emptyDir: {} }, ...spec.mounts.map((_, i) => ({ name: `ws-${i}`, emptyDir: {} }))],
      initContainers: [
        {
          name: INBOX_CONTAINER,
          image: helperImage,
          // Fixed shell code of Slipway's (no step or event data in it): wait for the copy-in's marker.
          command: ['sh', '-c', `until [ -e ${READY_FILE} ]; do sleep 0.2 2>/dev/null || sleep 1; done`],
          volumeMounts: helperMounts,
        },
      ],
      containers: [
        {
          name: STEP_CONTAINER,
          image: spec.image,
          command: [command],
          args,
          workingDir: spec.workdir,
          envFrom: [{ secretRef: { name } }],
          volumeMounts: spec.mounts.map((m, i) => ({ name: `ws-${i}`, mountPath: m.target, readOnly: m.readOnly ?? false })),
          ...(resources ? { resources } : {}),
        },
        {
          name: OUTBOX_CONTAINER,
          image: helperImage,
          command: ['sleep', String(deadline)],
          volumeMounts: helperMounts,
          resources: { requests: { cpu: '10m', memory: '16Mi' } },
        },
      ],
    },
  };
  return {
    name,
    pod,
    secret: (uid) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name, namespace, labels, annotations, ownerReferences: owned(uid) },
      data: Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')])),
    }),
    networkPolicy:
      spec.network === 'none'
        ? (uid) => ({
            apiVersion: 'networking.k8s.io/v1',
            kind: 'NetworkPolicy',
            metadata: { name, namespace, labels, ownerReferences: owned(uid) },
            spec: { podSelector: { matchLabels: { [STEP_LABEL]: hash } }, policyTypes: ['Ingress', 'Egress'] },
          })
        : undefined,
  };
}
