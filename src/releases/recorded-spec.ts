import { z } from 'zod';
import type { ReleaseSpec } from '../deploy/deploy-target.js';
import { decrypt, encrypt } from '../variables/crypto.js';

// A release's spec as the deploy applied it, kept so a rollback re-applies exactly it (the rendered
// manifests with the image digest, or the docker host's image, command and environment). It holds
// the rendered secrets (template values from project variables), so it is sealed like the
// variables themselves (AES-256-GCM, the variables key) and never leaves the deploy worker: the API
// lists the history without it.

const labels = z.record(z.string(), z.string());
const manifest = z.looseObject({
  apiVersion: z.string(),
  kind: z.string(),
  metadata: z.looseObject({ name: z.string(), namespace: z.string().exactOptional(), labels: labels.exactOptional(), annotations: labels.exactOptional() }),
});

const specSchema = z.object({
  service: z.string(),
  environment: z.string(),
  image: z.string(),
  command: z.array(z.string()).exactOptional(),
  env: z.record(z.string(), z.string()),
  port: z.number(),
  healthPath: z.string(),
  runId: z.string(),
  kubernetes: z.object({ manifests: z.array(manifest), clusters: z.array(z.string()) }).exactOptional(),
});

/** The associated data binds a sealed spec to its entry: it cannot be moved to another release. */
function aad(service: string, environment: string, id: number): string {
  return `release:${service}:${environment}:${id}`;
}

export function sealSpec(key: Buffer, spec: ReleaseSpec, id: number): string {
  return encrypt(key, JSON.stringify(spec), aad(spec.service, spec.environment, id));
}

/** The recorded spec of release `id`, or an error naming what is wrong with it. */
export function openSpec(key: Buffer, sealed: string, service: string, environment: string, id: number): ReleaseSpec {
  let text: string;
  try {
    text = decrypt(key, sealed, aad(service, environment, id));
  } catch (e) {
    throw new Error(`the recorded spec of release ${id} cannot be opened (was the variables key changed?): ${e instanceof Error ? e.message : String(e)}`);
  }
  const parsed = specSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`the recorded spec of release ${id} is not a release: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  const spec: ReleaseSpec = parsed.data;
  return spec;
}
