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
