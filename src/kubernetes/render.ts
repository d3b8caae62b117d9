import { isMap, isScalar, LineCounter, parseAllDocuments, Scalar, visit, type Document } from 'yaml';
import type { Manifest } from '../deploy/deploy-target.js';
import type { PipelineProblem } from '../pipeline/errors.js';
import { validateManifest } from './validate.js';

/** One template file: its name (as problems name it) and its text. */
export interface TemplateFile {
  name: string;
  text: string;
}

/** Who a release is: written onto every object as labels and annotations. */
export interface ReleaseIdentity {
  service: string;
  environment: string;
  commitSha: string;
  runId: string;
  runUrl: string;
}

// The seam's type: a release carries its objects to the target (deploy/deploy-target.ts).
export type { Manifest };

/** One rendered object and where it came from (file and the line of its document). */
export interface RenderedManifest {
  file: string;
  line: number;
  object: Manifest;
}

export type RenderManifestsResult = { ok: true; manifests: RenderedManifest[] } | { ok: false; problems: PipelineProblem[] };

export interface RenderInput {
  /** `${NAME}` values, always strings. */
  values: Record<string, string>;
  /**
   * The environment's config (its `variables:`): a scalar that is exactly `${SLIPWAY_CONFIG}` becomes
   * this map (e.g. a ConfigMap's `data`), built as YAML nodes, never as text.
   */
  config: Record<string, string>;
  identity: ReleaseIdentity;
}

export const LABELS = {
  service: 'slipway.dev/service',
  environment: 'slipway.dev/environment',
  commit: 'slipway.dev/commit',
  run: 'slipway.dev/run',
  runUrl: 'slipway.dev/run-url',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;

export const CONFIG_PLACEHOLDER = 'SLIPWAY_CONFIG';
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WHOLE_PLACEHOLDER = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Kinds whose `spec.template` is a pod template: the release's identity goes onto the pods too. */
const POD_TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet']);

/**
 * Pure: renders a service's manifests. Every file is parsed into YAML documents first; `${NAME}`
 * placeholders are then filled inside parsed scalars (never in the text), so a value stays one
 * string whatever it holds: it cannot add a key, an object or a document. A scalar written plain
 * (unquoted) and made of one placeholder takes the value's YAML type when the value is an integer
 * or true/false (`replicas: ${REPLICAS}`), as if it had been written there; anything else stays a
 * string. Keys are never filled. Then every object gets the release's labels and annotations and
 * is validated against the Kubernetes OpenAPI schema (kubernetes-models). Problems name the file,
 * the line and the field; every problem of every file is reported at once.
 */
export function renderManifests(files: readonly TemplateFile[], input: RenderInput): RenderManifestsResult {
  const problems: PipelineProblem[] = [];
  const manifests: RenderedManifest[] = [];
  if (files.length === 0) return { ok: false, problems: [{ file: '(templates)', line: 1, column: 1, message: 'no manifest files to render' }] };
  for (const file of files) {
    const lc = new LineCounter();
    const docs = parseAllDocuments(file.text, { lineCounter: lc, uniqueKeys: true, strict: true, prettyErrors: false });
    const at = (offset: number | undefined) => {
      const pos = lc.linePos(offset ?? 0);
      return { file: file.name, line: pos.line, column: pos.col };
    };
    if (!Array.isArray(docs)) {
      problems.push({ ...at(0), message: 'not a YAML stream' });
      continue;
    }
    for (const doc of docs) {
      const parseErrors = doc.errors.map((e) => ({ ...at(e.pos[0]), message: e.message.split('\n')[0] ?? e.message }));
      if (parseErrors.length > 0) {
        problems.push(...parseErrors);
        continue;
      }
      if (doc.contents === null) continue; // an empty document (a trailing ---)
      const docProblems = fill(doc, input, at);
      if (docProblems.length > 0) {
        problems.push(...docProblems);
        continue;
      }
      const start = at(doc.contents.range?.[0]);
      const js: unknown = doc.toJS({ maxAliasCount: 50 });
      const shaped = checkShape(js);
      if (typeof shaped === 'string') {
        problems.push({ ...start, message: shaped });
        continue;
      }
      stamp(shaped, input.identity);
      for (const v of validateManifest(shaped)) {
        problems.push({ ...positionOf(doc, v.path, at, start), message: `${shaped.kind} ${shaped.metadata.name}: ${v.field}: ${v.message}` });
      }
      manifests.push({ file: file.name, line: start.line, object: shaped });
    }
  }
  leaveReplicasToAutoscalers(manifests);
  const seen = new Map<string, RenderedManifest>();
  for (const m of manifests) {
    const key = `${m.object.apiVersion} ${m.object.kind} ${m.object.metadata.namespace ?? ''}/${m.object.metadata.name}`;
    const first = seen.get(key);
    if (first)
      problems.push({
        file: m.file,
        line: m.line,
        column: 1,
        message: `${m.object.kind} ${m.object.metadata.name} is also defined at ${first.file}:${first.line}`,
      });
    else seen.set(key, m);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, manifests };
}

/**
 * A Deployment or StatefulSet that an HPA of the same release scales: Slipway does not apply its
 * `spec.replicas`, or every deploy would reset the HPA's count (and, under server-side apply, conflict
 * with the HPA's field manager). What Argo CD users configure by hand with ignoreDifferences.
 */
function leaveReplicasToAutoscalers(manifests: readonly RenderedManifest[]): void {
  for (const hpa of manifests) {
    if (hpa.object.kind !== 'HorizontalPodAutoscaler') continue;
    const spec = hpa.object.spec;
    const ref = isRecord(spec) && isRecord(spec.scaleTargetRef) ? spec.scaleTargetRef : undefined;
    if (!ref) continue;
    for (const m of manifests) {
      const target = m.object;
      if (
        target.kind === ref.kind &&
        target.metadata.name === ref.name &&
        target.metadata.namespace === hpa.object.metadata.namespace &&
        isRecord(target.spec)
      ) {
        delete target.spec.replicas;
      }
    }
  }
}

type At = (offset: number | undefined) => { file: string; line: number; column: number };

function fill(doc: Document, input: RenderInput, at: At): PipelineProblem[] {
  const problems: PipelineProblem[] = [];
  const known = () => [...Object.keys(input.values), CONFIG_PLACEHOLDER].sort().join(', ');
  visit(doc, {
    Scalar(key, node) {
      if (key === 'key' || typeof node.value !== 'string') return undefined;
      const whole = WHOLE_PLACEHOLDER.exec(node.value);
      if (whole?.[1] === CONFIG_PLACEHOLDER) {
        // A map of strings, made as nodes: config values are data, never YAML.
        const map = doc.createNode(Object.fromEntries(Object.entries(input.config).map(([k, v]) => [k, String(v)])));
        for (const item of map.items) if (isScalar(item.value)) item.value.type = Scalar.QUOTE_DOUBLE;
        return map;
      }
      if (whole && node.type === Scalar.PLAIN) {
        const v = input.values[whole[1] ?? ''];
        if (v !== undefined && /^-?(0|[1-9][0-9]{0,14})$/.test(v)) {
          node.value = Number(v);
          return undefined;
        }
        if (v === 'true' || v === 'false') {
          node.value = v === 'true';
          return undefined;
        }
      }
      node.value = node.value.replace(PLACEHOLDER, (text, name: string) => {
        const v = input.values[name];
        if (v !== undefined) return v;
        problems.push({
          ...at(node.range?.[0]),
          message:
            name === CONFIG_PLACEHOLDER
              ? `\${${CONFIG_PLACEHOLDER}} must be a whole value (e.g. data: \${${CONFIG_PLACEHOLDER}})`
              : `unknown value ${text} (known: ${known()})`,
        });
        return text;
      });
      return undefined;
    },
  });
  return problems;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkShape(js: unknown): Manifest | string {
  if (!isRecord(js)) return 'a manifest must be a mapping with apiVersion, kind and metadata';
  if (typeof js.apiVersion !== 'string' || js.apiVersion === '') return 'apiVersion: required (a string such as apps/v1)';
  if (typeof js.kind !== 'string' || js.kind === '') return 'kind: required (a string such as Deployment)';
  if (!isRecord(js.metadata) || typeof js.metadata.name !== 'string' || js.metadata.name === '') return `${js.kind}: metadata.name: required`;
  for (const field of ['labels', 'annotations'] as const) {
    const v = js.metadata[field];
    if (v !== undefined && (!isRecord(v) || Object.values(v).some((x) => typeof x !== 'string'))) {
      return `${js.kind} ${js.metadata.name}: metadata.${field}: must map names to strings`;
    }
  }
  return js as Manifest;
}

/** Labels and annotations naming the release, on the object and on its pods. */
function stamp(obj: Manifest, id: ReleaseIdentity): void {
  const labels: Record<string, string> = { [LABELS.managedBy]: 'slipway', [LABELS.service]: id.service, [LABELS.environment]: id.environment };
  // Labels carry only what is a valid label value (63 characters of [A-Za-z0-9._-]); annotations carry everything.
  for (const [k, v] of [
    [LABELS.commit, id.commitSha],
    [LABELS.run, id.runId],
  ] as const)
    if (v.length <= 63 && LABEL_VALUE.test(v)) labels[k] = v;
  const annotations: Record<string, string> = {
    [LABELS.service]: id.service,
    [LABELS.environment]: id.environment,
    [LABELS.commit]: id.commitSha,
    [LABELS.run]: id.runId,
    [LABELS.runUrl]: id.runUrl,
  };
  obj.metadata.labels = { ...obj.metadata.labels, ...labels };
  obj.metadata.annotations = { ...obj.metadata.annotations, ...annotations };
  const spec = obj.spec;
  if (POD_TEMPLATE_KINDS.has(obj.kind) && isRecord(spec) && isRecord(spec.template)) {
    const meta = isRecord(spec.template.metadata) ? spec.template.metadata : {};
    // Pods get the stable labels only: the selector must keep matching them, and a commit label on
    // pods would make `kubectl get pods -l` lists change on every release.
    meta.labels = { ...(isRecord(meta.labels) ? meta.labels : {}), [LABELS.service]: id.service, [LABELS.environment]: id.environment };
    meta.annotations = { ...(isRecord(meta.annotations) ? meta.annotations : {}), ...annotations };
    spec.template.metadata = meta;
  }
}

/** The line of the deepest node on `path` that the template wrote (fields Slipway added have none). */
function positionOf(doc: Document, path: readonly string[], at: At, fallback: ReturnType<At>): ReturnType<At> {
  for (let n = path.length; n > 0; n--) {
    const segs = path.slice(0, n).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    const node: unknown = doc.getIn(segs, true);
    if (node && typeof node === 'object' && 'range' in node) {
      const range = (node as { range?: [number, number, number] }).range;
      if (range) return at(range[0]);
    }
    // For a key whose value is a collection, point at the key's own line.
    const parent: unknown = n > 1 ? doc.getIn(segs.slice(0, -1), true) : doc.contents;
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === segs[segs.length - 1]);
      if (pair && isScalar(pair.key) && pair.key.range) return at(pair.key.range[0]);
    }
  }
  return fallback;
}
