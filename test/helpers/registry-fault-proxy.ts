import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RegistryFaultProxy {
  /** host:port of the proxy, as in an image name. */
  host: string;
  /** While true every request is answered 500 (as a registry behind a failing load balancer). */
  failing: boolean;
  /** Requests answered 500 so far. */
  failed: number;
  /** Authorization headers of the writes that reached the registry. */
  writeAuthorizations: string[];
  /** Every request passed on to the registry, as "METHOD /path?query" (what a test counts uploads by). */
  requests: string[];
  /** The next this many blob upload PUTs are answered 500 (a registry failing mid-push). */
  failBlobPuts: number;
  close(): Promise<void>;
}

/**
 * A registry in front of a real one (plain http on loopback): reads are anonymous (a public Harbor
 * project), writes need Basic credentials (a robot account), and it can be switched to answer 500.
 * The Host header is passed on, so the registry's upload Locations point back at the proxy.
 */
export async function startRegistryFaultProxy(upstream: string, creds: { username: string; password: string }): Promise<RegistryFaultProxy> {
  const [upHost, upPort] = upstream.split(':');
  const expected = `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  const state = { failing: false, failed: 0, writeAuthorizations: [] as string[], requests: [] as string[], failBlobPuts: 0 };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const blobPut = req.method === 'PUT' && /\/blobs\/uploads\//.test(req.url ?? '');
    if (state.failing || (blobPut && state.failBlobPuts > 0)) {
      if (blobPut && !state.failing) state.failBlobPuts -= 1;
      state.failed += 1;
      req.resume();
      res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'proxy: upstream unavailable' }] }));
      return;
    }
    const write = req.method !== 'GET' && req.method !== 'HEAD';
    if (write) {
      if (req.headers.authorization !== expected) {
        req.resume();
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="registry"', 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        return;
      }
      state.writeAuthorizations.push(req.headers.authorization);
    }
    state.requests.push(`${req.method} ${req.url}`);
    const headers = { ...req.headers };
    delete headers.authorization; // the upstream registry is open; credentials stop here
    const up = request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers, timeout: 60_000 }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get failing() {
      return state.failing;
    },
    set failing(v: boolean) {
      state.failing = v;
    },
    get failed() {
      return state.failed;
    },
    get writeAuthorizations() {
      return state.writeAuthorizations;
    },
    get requests() {
      return state.requests;
    },
    get failBlobPuts() {
      return state.failBlobPuts;
    },
    set failBlobPuts(n: number) {
      state.failBlobPuts = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
