// A fault-injecting proxy in front of a kube-apiserver, for the deploy worker's failure tests:
// 500s, 429 with Retry-After, hangs, connection resets, dropped watches and an unreachable cluster.
// It terminates TLS with the apiserver's own serving cert (SAN 127.0.0.1) so a kubeconfig keeps its CA,
// and forwards to the apiserver over HTTPS, Authorization header included.
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly message?: string }
  | { readonly kind: 'throttle'; readonly retryAfterSeconds: number }
  | { readonly kind: 'hang' }
  | { readonly kind: 'reset' }
  /** Watch responses are forwarded, then cut after `afterMs` (the client sees the stream end). */
  | { readonly kind: 'drop-watch'; readonly afterMs: number }
  /** The listener is closed: connections are refused until the fault is cleared. */
  | { readonly kind: 'unreachable' };

export interface FaultRequest {
  readonly method: string;
  readonly path: string;
  readonly watch: boolean;
}

export interface FaultRule {
  readonly fault: Fault;
  /** Only requests this matches are faulted (default: all). */
  readonly match?: (req: FaultRequest) => boolean;
  /** Fault this many matching requests, then pass (default: until cleared). */
  readonly times?: number;
}

export interface KubeFaultProxyOptions {
  /** https://host:port of the apiserver. */
  readonly upstream: string;
  readonly caPath: string;
  readonly tlsCertPath: string;
  readonly tlsKeyPath: string;
  /** Port to listen on, 127.0.0.1 (default: any free port). */
  readonly port?: number;
}

export class KubeFaultProxy {
  private rule: (FaultRule & { remaining: number }) | undefined;
  private readonly sockets = new Set<Socket>();
  /** Raw TCP sockets by client port: a TLS socket cannot be reset, its TCP socket can. */
  private readonly tcpByPort = new Map<number, Socket>();
  private listening = false;
  /** What the proxy did, in order: 'pass' or the fault kind, per request. */
  readonly log: string[] = [];

  private constructor(
    private readonly server: Server,
    private readonly upstream: URL,
    private readonly ca: Buffer,
    private port: number,
  ) {}

  static async start(opts: KubeFaultProxyOptions): Promise<KubeFaultProxy> {
    const server = createServer({ cert: readFileSync(opts.tlsCertPath), key: readFileSync(opts.tlsKeyPath) });
    const proxy = new KubeFaultProxy(server, new URL(opts.upstream), readFileSync(opts.caPath), opts.port ?? 0);
    server.on('request', (req, res) => proxy.handle(req, res));
    server.on('connection', (s: Socket) => {
      const port = s.remotePort ?? 0;
      proxy.sockets.add(s);
      proxy.tcpByPort.set(port, s);
      s.on('close', () => {
        proxy.sockets.delete(s);
        proxy.tcpByPort.delete(port);
      });
    });
    await proxy.listen();
    return proxy;
  }

  /** https://127.0.0.1:port: put this in a kubeconfig in place of the apiserver. */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async inject(rule: FaultRule): Promise<void> {
    this.rule = { ...rule, remaining: rule.times ?? Number.POSITIVE_INFINITY };
    if (rule.fault.kind === 'unreachable') await this.unlisten();
  }

  async clear(): Promise<void> {
    this.rule = undefined;
    if (!this.listening) await this.listen();
  }

  async close(): Promise<void> {
    this.rule = undefined;
    await this.unlisten();
  }

  private async listen(): Promise<void> {
    this.server.listen(this.port, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    this.listening = true;
  }

  private async unlisten(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private pick(req: FaultRequest): Fault | undefined {
    const r = this.rule;
    if (!r || r.remaining <= 0 || (r.match && !r.match(req))) return undefined;
    r.remaining -= 1;
    return r.fault;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'https://proxy');
    const info: FaultRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      watch: url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1',
    };
    const fault = this.pick(info);
    this.log.push(fault?.kind ?? 'pass');
    switch (fault?.kind) {
      case 'status':
        statusResponse(res, fault.status, fault.message ?? 'injected by kube-fault-proxy', {});
        return;
      case 'throttle':
        statusResponse(res, 429, 'Too many requests (injected)', { 'retry-after': String(fault.retryAfterSeconds) });
        return;
      case 'hang':
        return; // never answer; the socket is destroyed on clear/close
      case 'reset': // RST, as a crashed load balancer or a killed apiserver sends
        (this.tcpByPort.get(req.socket.remotePort ?? 0) ?? req.socket).resetAndDestroy();
        return;
      case 'unreachable': // a request racing the close: refuse it the same way
        req.socket.destroy();
        return;
      case 'drop-watch':
        this.forward(req, res, info.watch ? fault.afterMs : undefined);
        return;
      case undefined:
        this.forward(req, res, undefined);
        return;
    }
  }

  private forward(req: IncomingMessage, res: ServerResponse, cutAfterMs: number | undefined): void {
    const up = request(
      {
        protocol: 'https:',
        hostname: this.upstream.hostname,
        port: this.upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: this.upstream.host },
        ca: this.ca,
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        if (cutAfterMs !== undefined) {
          // End the stream cleanly mid-watch, as an apiserver restart or a load balancer timeout does.
          setTimeout(() => {
            upRes.destroy();
            res.end();
          }, cutAfterMs);
        }
      },
    );
    up.on('error', () => {
      if (!res.headersSent) statusResponse(res, 502, 'kube-fault-proxy: upstream error', {});
      else res.destroy();
    });
    req.pipe(up);
  }
}

function statusResponse(res: ServerResponse, code: number, message: string, headers: Record<string, string>): void {
  const reason = code === 429 ? 'TooManyRequests' : code === 500 ? 'InternalError' : 'ServiceUnavailable';
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  res.writeHead(code, { 'content-type': 'application/json', ...headers });
  res.end(body);
}
