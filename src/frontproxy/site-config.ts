/**
 * What the front proxy sends where, for one service and environment: one fixed address in front of
 * the release containers, with each container's share of the requests in percent.
 */
export interface Route {
  service: string;
  environment: string;
  /** The fixed address clients use; it never changes between releases. */
  listen: { host: string; port: number };
  /** The containers behind it. Shares are whole percents; a share of 0 takes no request. */
  backends: readonly Backend[];
}

export interface Backend {
  /** What the container is to this route, for the file and the logs. */
  role: 'stable' | 'canary';
  host: string;
  port: number;
  /** Percent of the requests, 0–100; the shares of a route add up to 100. */
  weight: number;
}

// Names end up in file names and nginx identifiers: checked, never rewritten (two services must never
// share a file). The docker target applies the same rule to its container names.
const NAME = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const HOST = /^[0-9.]+$|^[a-z0-9.-]+$/;
/** The comment line that carries the route as JSON, so what is live can be read back from the file. */
const ROUTE_MARK = '# slipway-route: ';

/** The problems that make a route impossible to write, in words; empty when it is good. */
export function routeProblems(route: Route): string[] {
  const problems: string[] = [];
  for (const [what, v] of [
    ['service', route.service],
    ['environment', route.environment],
  ] as const) {
    if (!NAME.test(v)) problems.push(`invalid ${what} name ${JSON.stringify(v)} (want ${NAME.source})`);
  }
  const addresses = [route.listen, ...route.backends];
  for (const a of addresses) {
    if (!HOST.test(a.host)) problems.push(`invalid host ${JSON.stringify(a.host)}`);
    if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535) problems.push(`invalid port ${a.port}`);
  }
  const live = route.backends.filter((b) => b.weight > 0);
  if (live.length === 0) problems.push('no backend takes traffic: at least one needs a weight above 0');
  if (route.backends.some((b) => !Number.isInteger(b.weight) || b.weight < 0 || b.weight > 100)) problems.push('weights are whole percents from 0 to 100');
  const total = route.backends.reduce((n, b) => n + b.weight, 0);
  if (total !== 100) problems.push(`the weights add up to ${total}, not 100`);
  return problems;
}

/** The site file's name inside the front proxy's sites/ directory. */
export function siteFileName(service: string, environment: string): string {
  return `${service}--${environment}.conf`;
}

/**
 * Pure: a route → the nginx site file. One upstream with a server per backend whose share is above
 * 0, weighted by its percent: nginx's smooth weighted round robin then sends exactly `weight` of
 * every 100 requests a worker handles to that backend. A backend that fails to connect is passed
 * over for the request (`proxy_next_upstream`), so a crashing canary costs no client request while
 * Slipway's own health check notices it and aborts.
 */
export function renderSite(route: Route): string {
  const problems = routeProblems(route);
  if (problems.length > 0) throw new Error(`front proxy route for ${route.service}/${route.environment}: ${problems.join('; ')}`);
  const upstream = `slipway_${route.service}__${route.environment}`.replace(/[.-]/g, '_');
  const servers = route.backends.filter((b) => b.weight > 0).map((b) => `    server ${b.host}:${b.port} weight=${b.weight} max_fails=0; # ${b.role}`);
  const recorded = { listen: route.listen, backends: route.backends };
  return [
    `# Written by Slipway: the front proxy of ${route.service} in ${route.environment}. Do not edit: the next deploy rewrites it.`,
    `${ROUTE_MARK}${JSON.stringify(recorded)}`,
    `upstream ${upstream} {`,
    ...servers,
    '}',
    'server {',
    `    listen ${route.listen.host}:${route.listen.port};`,
    `    location / {`,
    `        proxy_pass http://${upstream};`,
    '        proxy_http_version 1.1;',
    '        proxy_set_header Connection "";',
    '        proxy_set_header Host $http_host;',
    '        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '        proxy_next_upstream error timeout;',
    '        proxy_connect_timeout 2s;',
    '    }',
    '}',
    '',
  ].join('\n');
}

/** The route a site file was written for, or null when the text is not one of Slipway's. */
export function parseSite(service: string, environment: string, text: string): Route | null {
  const line = text.split('\n').find((l) => l.startsWith(ROUTE_MARK));
  if (!line) return null;
  try {
    const data = JSON.parse(line.slice(ROUTE_MARK.length)) as Pick<Route, 'listen' | 'backends'>;
    return { service, environment, listen: data.listen, backends: data.backends };
  } catch {
    return null;
  }
}
