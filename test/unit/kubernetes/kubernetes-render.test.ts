import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { renderManifests, type RenderInput } from '../../../src/kubernetes/render.js';
import { renderRelease } from '../../../src/kubernetes/templates.js';

const identity = { service: 'web', environment: 'pre', commitSha: 'c'.repeat(40), runId: 'mk1-abc', runUrl: 'https://slipway.example/runs/mk1-abc' };
const input = (values: Record<string, string> = {}, config: Record<string, string> = {}): RenderInput => ({ values, config, identity });
const noRepo = { file: () => Promise.resolve(null), dir: () => Promise.resolve(null) };

const CONFIGMAP = `apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  greeting: \${GREETING}
  plain: "\${GREETING}"
`;

describe('Kubernetes manifest rendering', () => {
  it.each([['a\nkind: Secret'], ['{{'], ['---'], ['x: 1\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}'], ['${GREETING}']])(
    'renders the hostile value %j as one string, adding no key, object or document',
    (hostile) => {
      const r = renderManifests([{ name: 'cm.yml', text: CONFIGMAP }], input({ GREETING: hostile }));
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.manifests).toHaveLength(1);
      expect(r.manifests[0]?.object.kind).toBe('ConfigMap');
      expect(r.manifests[0]?.object.data).toEqual({ greeting: hostile, plain: hostile });
    },
  );

  it('turns a plain whole placeholder holding an integer into a number, and keeps quoted ones strings', () => {
    const text =
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: ${N}\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: app, image: "${N}"}]\n';
    const r = renderManifests([{ name: 'd.yml', text }], input({ N: '3' }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const spec = r.manifests[0]?.object.spec as { replicas: unknown; template: { spec: { containers: { image: unknown }[] } } };
    expect(spec.replicas).toBe(3);
    expect(spec.template.spec.containers[0]?.image).toBe('3');
  });

  it('builds ${SLIPWAY_CONFIG} as a map of strings, whatever the values hold', () => {
    const r = renderManifests(
      [{ name: 'cm.yml', text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: ${SLIPWAY_CONFIG}\n' }],
      input({}, { A: 'a\nkind: Secret', B: '3' }),
    );
    expect(r.ok && r.manifests[0]?.object.data).toEqual({ A: 'a\nkind: Secret', B: '3' });
  });

  it('labels and annotates every object and the pods with the release', () => {
    const r = renderManifests(
      [
        {
          name: 'd.yml',
          text: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: app, image: i}]\n',
        },
      ],
      input(),
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const obj = r.manifests[0]!.object;
    expect(obj.metadata.labels).toMatchObject({
      'slipway.dev/service': 'web',
      'slipway.dev/environment': 'pre',
      'slipway.dev/commit': identity.commitSha,
      'slipway.dev/run': 'mk1-abc',
    });
    expect(obj.metadata.annotations).toMatchObject({ 'slipway.dev/run-url': identity.runUrl, 'slipway.dev/commit': identity.commitSha });
    const pod = (obj.spec as { template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> } } }).template.metadata;
    expect(pod.labels).toEqual({ app: 'web', 'slipway.dev/service': 'web', 'slipway.dev/environment': 'pre' });
    expect(pod.annotations['slipway.dev/run']).toBe('mk1-abc');
  });

  it('names the file, line and field of a schema violation, and applies nothing', () => {
    const text =
      'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: many\n  selector: {matchLabels: {app: web}}\n  template:\n    spec:\n      containers:\n        - image: app\n';
    const r = renderManifests([{ name: 'deploy/app.yml', text }], input());
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toContainEqual(
      expect.objectContaining({ file: 'deploy/app.yml', line: 10, message: expect.stringContaining('spec.replicas: must be integer') }),
    );
    expect(r.problems).toContainEqual(
      expect.objectContaining({ file: 'deploy/app.yml', line: 15, message: expect.stringContaining('spec.template.spec.containers[0].name: required') }),
    );
  });

  it('refuses a kind it does not deploy, an unknown value and a document without kind', () => {
    const r = renderManifests(
      [
        { name: 'a.yml', text: 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: x}\n' },
        { name: 'b.yml', text: 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: "${NOPE}"}\n' },
        { name: 'c.yml', text: 'apiVersion: v1\nmetadata: {name: x}\n' },
      ],
      input({ KNOWN: '1' }),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => `${p.file}:${p.line}`)).toEqual(['a.yml:2', 'b.yml:4', 'c.yml:1']);
    expect(r.problems[0]?.message).toContain('not a kind Slipway deploys');
    expect(r.problems[1]?.message).toContain('unknown value ${NOPE}');
    expect(r.problems[2]?.message).toContain('kind: required');
  });

  it('renders the built-in set into valid objects that YAML readers parse back the same', async () => {
    const r = await renderRelease(
      'kubernetes',
      {
        identity,
        image: `reg/web@sha256:${'a'.repeat(64)}`,
        port: 8080,
        healthPath: '/healthz',
        variables: { MAX_REPLICAS: '5', INGRESS_HOST: 'web.example', MIN_AVAILABLE: '1', GREETING: '---' },
        secrets: {},
      },
      noRepo,
    );
    expect(r.ok, JSON.stringify(!r.ok && r.problems)).toBe(true);
    if (!r.ok) return;
    expect(r.manifests.map((m) => m.object.kind)).toEqual(['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'PodDisruptionBudget', 'Service']);
    const deployment = r.manifests.find((m) => m.object.kind === 'Deployment')!.object;
    // The HPA owns the replicas: Slipway does not apply them.
    expect((deployment.spec as Record<string, unknown>).replicas).toBeUndefined();
    const cm = r.manifests.find((m) => m.object.kind === 'ConfigMap')!.object;
    expect((cm.data as Record<string, string>).GREETING).toBe('---');
    expect(JSON.stringify(deployment)).toContain(cm.metadata.name);
    expect(parseAllDocuments(JSON.stringify(cm))).toHaveLength(1);
  });

  it('leaves the optional built-ins out unless their variable is set, and a config change renames the ConfigMap', async () => {
    const base = { identity, image: 'i', port: 8080, healthPath: '/', secrets: {} };
    const a = await renderRelease('kubernetes', { ...base, variables: { GREETING: 'hello' } }, noRepo);
    const b = await renderRelease('kubernetes', { ...base, variables: { GREETING: 'bonjour' } }, noRepo);
    expect(a.ok && a.manifests.map((m) => m.object.kind)).toEqual(['ConfigMap', 'Deployment', 'Service']);
    const name = (r: typeof a) => (r.ok ? r.manifests[0]?.object.metadata.name : undefined);
    expect(name(a)).toMatch(/^web-config-[0-9a-f]{10}$/);
    expect(name(a)).not.toBe(name(b));
  });

  it('uses the repository deploy/ directory when the template is left at its default', async () => {
    const repo = {
      file: () => Promise.resolve(null),
      dir: (p: string) => Promise.resolve(p === 'deploy/' ? [{ name: 'deploy/cm.yml', text: CONFIGMAP }] : null),
    };
    const r = await renderRelease('docker-service', { identity, image: 'i', port: 8080, healthPath: '/', variables: { GREETING: 'hi' }, secrets: {} }, repo);
    expect(r.ok && r.source).toBe('deploy/');
    const missing = await renderRelease('k8s/', { identity, image: 'i', port: 8080, healthPath: '/', variables: {}, secrets: {} }, repo);
    expect(missing.ok).toBe(false);
    expect(!missing.ok && missing.problems[0]?.message).toContain('k8s/ not found');
  });
});
