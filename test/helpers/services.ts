import Docker from 'dockerode';

/** The engine from DOCKER_HOST (unix:// or tcp://), defaulting to the local test engine. */
export function dockerFromEnv(env: NodeJS.ProcessEnv = process.env): Docker {
  const host = env['DOCKER_HOST'] ?? 'unix:///run/slipway-docker.sock';
  if (host.startsWith('unix://')) return new Docker({ socketPath: host.slice('unix://'.length) });
  const url = new URL(host.replace(/^tcp:/, 'http:'));
  return new Docker({ host: url.hostname, port: Number(url.port || 2375), protocol: 'http' });
}

/** host:port of the plain-http test registry. */
export function registryFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env['SLIPWAY_REGISTRY'] ?? '127.0.0.1:5050';
}

export function baseImageFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env['SLIPWAY_BASE_IMAGE'] ?? 'slipway/busybox:1';
}

/** Short random suffix so parallel tests never share names, repos or ports. */
export function uniqueId(): string {
  return Math.random().toString(36).slice(2, 10);
}

/**
 * A base port for a test's blue/green slots (base, base+1) and a second environment's (base+100,
 * base+101). Each test file has its own band, so files running side by side never pick the same
 * port, and every band lies below Linux's ephemeral range (32768+), where outgoing connections take
 * their local ports and a service's bind could fail at random (seen in CI: "bind: Address already in use").
 */
export function slotPortBase(band: number): number {
  if (band < 0 || band > 11) throw new Error(`port band ${band} is outside 0..11`);
  // 1,000 ports a band: a slot pair at most 880 in, a second environment 100 above it, a few more
  // environments 2 apart (deploy-gates): all inside the band, the last band ending at 31,999.
  return 20_000 + band * 1_000 + 2 * Math.floor(Math.random() * 440);
}
