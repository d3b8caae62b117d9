import { createHash, timingSafeEqual } from 'node:crypto';

/** Constant-time string equality: compares fixed-length digests so neither length nor content leaks. */
export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), secretDigest(b));
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

// The second argument is a configured secret: its digest is kept, not made again for every delivery.
// Bounded, in case a caller ever passes something else there.
const secretDigests = new Map<string, Buffer>();
function secretDigest(secret: string): Buffer {
  let d = secretDigests.get(secret);
  if (!d) {
    if (secretDigests.size >= 256) secretDigests.clear();
    d = digest(secret);
    secretDigests.set(secret, d);
  }
  return d;
}

export interface TokenSecrets {
  global: string | undefined;
  perProject: Record<string, string>;
}

/** Before parsing: is the token one of ours at all? Every candidate is compared, so timing does not say which. */
export function tokenIsKnown(token: string | undefined, secrets: TokenSecrets): boolean {
  if (!token) return false;
  let known = false;
  for (const s of [secrets.global, ...Object.values(secrets.perProject)]) {
    if (s !== undefined && safeEqual(token, s)) known = true;
  }
  return known;
}

/**
 * After parsing: a project with its own secret accepts only that secret (so one project's secret
 * cannot forge events for another); other projects accept the global one.
 */
export function tokenFitsProject(token: string, project: { id: number; path: string }, secrets: TokenSecrets): boolean {
  const own = secrets.perProject[String(project.id)] ?? secrets.perProject[project.path];
  if (own !== undefined) return safeEqual(token, own);
  return secrets.global !== undefined && safeEqual(token, secrets.global);
}
