// The objects the smoke suite applies: what Slipway's deploy worker renders for a service.
import { createHash } from 'node:crypto';
import type { V1ConfigMap, V1Deployment, V1Service } from '@kubernetes/client-node';
import { HTTP_PORT } from './image.js';

export interface WebApp {
  readonly namespace: string;
  readonly name: string;
  readonly image: string;
  readonly greeting: string;
  readonly replicas?: number;
  readonly progressDeadlineSeconds?: number;
}

export const CONFIG_HASH = 'slipway.dev/config-hash';

export function configHash(data: Record<string, string>): string {
  return createHash('sha256')
    .update(JSON.stringify(Object.entries(data).sort()))
    .digest('hex')
    .slice(0, 16);
}

export function renderWebApp(app: WebApp): { configMap: V1ConfigMap; service: V1Service; deployment: V1Deployment } {
  const labels = { app: app.name };
  const data = { greeting: app.greeting };
  const configMap: V1ConfigMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${app.name}-config`, namespace: app.namespace },
    data,
  };
  const service: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: app.name, namespace: app.namespace },
    // 1.20 rejects SSA of a port without protocol (associative list key): always render it.
    spec: { selector: labels, ports: [{ name: 'http', port: 80, targetPort: HTTP_PORT, protocol: 'TCP' }] },
  };
  const deployment: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: app.name, namespace: app.namespace, labels },
    spec: {
      replicas: app.replicas ?? 2,
      progressDeadlineSeconds: app.progressDeadlineSeconds ?? 20,
      revisionHistoryLimit: 10,
      selector: { matchLabels: labels },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        // A config change must roll the pods: the ConfigMap's hash is part of the template.
        metadata: { labels, annotations: { [CONFIG_HASH]: configHash(data) } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'web',
              image: app.image,
              imagePullPolicy: 'IfNotPresent',
              ports: [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }],
              readinessProbe: { httpGet: { path: '/', port: HTTP_PORT }, periodSeconds: 1, failureThreshold: 1 },
              volumeMounts: [{ name: 'config', mountPath: '/www/config', readOnly: true }],
            },
          ],
          volumes: [{ name: 'config', configMap: { name: `${app.name}-config` } }],
        },
      },
    },
  };
  return { configMap, service, deployment };
}
