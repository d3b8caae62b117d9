import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler as HpaV1 } from 'kubernetes-models/autoscaling/v1/HorizontalPodAutoscaler';
import { HorizontalPodAutoscaler as HpaV2 } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { HorizontalPodAutoscaler as HpaV2beta2 } from 'kubernetes-models/autoscaling/v2beta2/HorizontalPodAutoscaler';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget as PdbV1 } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { PodDisruptionBudget as PdbV1beta1 } from 'kubernetes-models/policy/v1beta1/PodDisruptionBudget';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

/**
 * The kinds a service's manifests may hold, by `apiVersion kind`. Anything else is refused before
 * anything is applied: a deploy must not create cluster-wide objects (roles, CRDs, namespaces) with
 * the deploy credentials, and an unknown kind could not be validated.
 */
const MODELS: Readonly<Record<string, ModelClass>> = {
  'v1 ConfigMap': ConfigMap,
  'v1 Secret': Secret,
  'v1 Service': Service,
  'v1 ServiceAccount': ServiceAccount,
  'v1 PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1 Deployment': Deployment,
  'apps/v1 StatefulSet': StatefulSet,
  'apps/v1 DaemonSet': DaemonSet,
  'autoscaling/v1 HorizontalPodAutoscaler': HpaV1,
  'autoscaling/v2 HorizontalPodAutoscaler': HpaV2,
  'autoscaling/v2beta2 HorizontalPodAutoscaler': HpaV2beta2,
  'batch/v1 Job': Job,
  'batch/v1 CronJob': CronJob,
  'networking.k8s.io/v1 Ingress': Ingress,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'policy/v1 PodDisruptionBudget': PdbV1,
  'policy/v1beta1 PodDisruptionBudget': PdbV1beta1,
};

export const SUPPORTED_KINDS: readonly string[] = Object.keys(MODELS);

/** One schema violation: `path` to the field (object keys and array indexes), printable `field`. */
export interface ManifestViolation {
  path: string[];
  field: string;
  message: string;
}

interface AjvError {
  instancePath?: string;
  message?: string;
  params?: { missingProperty?: string; allowedValues?: unknown[] };
}

/** Validates one object against its kind's OpenAPI schema (kubernetes-models' ajv validators). */
export function validateManifest(obj: { apiVersion: string; kind: string }): ManifestViolation[] {
  const Model = MODELS[`${obj.apiVersion} ${obj.kind}`];
  if (!Model) {
    return [
      { path: ['kind'], field: 'kind', message: `${obj.apiVersion} ${obj.kind} is not a kind Slipway deploys (supported: ${SUPPORTED_KINDS.join(', ')})` },
    ];
  }
  try {
    new Model(obj as never).validate();
    return [];
  } catch (e) {
    const errors = (e as { errors?: AjvError[] }).errors;
    if (!Array.isArray(errors)) return [{ path: [], field: '(object)', message: e instanceof Error ? e.message : String(e) }];
    return errors.map((err) => {
      const path = (err.instancePath ?? '')
        .split('/')
        .filter((s) => s !== '')
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
      const missing = err.params?.missingProperty;
      const full = missing ? [...path, missing] : path;
      const allowed = err.params?.allowedValues ? ` (${err.params.allowedValues.map((v) => JSON.stringify(v)).join(', ')})` : '';
      return { path, field: fieldName(full), message: missing ? 'required' : `${err.message ?? 'invalid'}${allowed}` };
    });
  }
}

/** `spec.template.spec.containers[0].image`, as kubectl names fields. */
export function fieldName(path: readonly string[]): string {
  return path.reduce((acc, seg) => (/^\d+$/.test(seg) ? `${acc}[${seg}]` : acc === '' ? seg : `${acc}.${seg}`), '') || '(object)';
}
