/**
 * One server of the ingest benchmark, in a process of its own (forked by bench/webhook-ingest.ts):
 *
 *   node dist/bench/ingest-server.js <kind> [redis-url]     (compiled by bench/webhook-ingest.ts)
 *
 * kinds: node-http (read, JSON.parse, 202), express (raw body, JSON.parse, 202), node-http-add
 * (node:http + one BullMQ add of the body), slipway (Slipway's http role, /webhooks/gitlab).
 * Sends {ready: port} over IPC once listening; answers {rss: true} with its peak RSS since start and
 * exits on {stop: true}.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BENCH_SECRET } from './push-bodies.js';

export type ServerKind = 'node-http' | 'express' | 'node-http-add' | 'slipway';

let peakRss = process.memoryUsage.rss();
setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 200).unref();

const ACCEPTED = JSON.stringify({ accepted: true });
// Content-Length set, as express and Slipway do (writeHead without it makes node answer chunked).
const ACCEPTED_HEADERS = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(ACCEPTED)) };

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function listenOn(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  return typeof addr === 'object' && addr ? addr.port : 0;
}

async function start(kind: ServerKind, redisUrl: string | undefined): Promise<{ port: number; stop(): Promise<void> }> {
  if (kind === 'node-http') {
    const server = http.createServer((req, res) => {
      readBody(req).then(
        (raw) => {
          JSON.parse(raw.toString('utf8'));
          res.writeHead(202, ACCEPTED_HEADERS).end(ACCEPTED);
        },
        () => res.writeHead(400, { 'content-length': '0' }).end(),
      );
    });
    return { port: await listenOn(server), stop: async () => void server.close() };
  }
  // Each kind loads only what it uses, so a baseline's RSS is its own.
  if (kind === 'express') {
    const { default: express } = await import('express');
    const app = express();
    app.post('/webhooks/gitlab', express.raw({ type: () => true, limit: 25 * 1024 * 1024 }), (req, res) => {
      JSON.parse((req.body as Buffer).toString('utf8'));
      res.status(202).json({ accepted: true });
    });
    const server = http.createServer(app);
    return { port: await listenOn(server), stop: async () => void server.close() };
  }
  if (!redisUrl) throw new Error(`${kind} needs a redis URL`);
  if (kind === 'node-http-add') {
    const { Queue } = await import('bullmq');
    const { Redis } = await import('ioredis');
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue('bench', { connection, prefix: 'bench' });
    const server = http.createServer((req, res) => {
      readBody(req)
        .then(async (raw) => {
          await queue.add('event', JSON.parse(raw.toString('utf8')) as object);
          res.writeHead(202, ACCEPTED_HEADERS).end(ACCEPTED);
        })
        .catch(() => res.writeHead(503, { 'content-length': '0' }).end());
    });
    return {
      port: await listenOn(server),
      async stop() {
        server.close();
        await queue.close();
        connection.disconnect();
      },
    };
  }
  const { readConfig } = await import('../src/config/config.js');
  const { startSlipway } = await import('../src/slipway.js');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'slipway-bench-data-'));
  const result = readConfig({
    GITLAB_URL: 'http://127.0.0.1:9/',
    GITLAB_TOKEN: 'bench-token-never-used',
    REDIS_URL: redisUrl,
    SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY: 'true',
    SLIPWAY_WEBHOOK_SECRET: BENCH_SECRET,
    SLIPWAY_DATA_DIR: dataDir,
    SLIPWAY_HOST: '127.0.0.1',
    SLIPWAY_PORT: '0',
    SLIPWAY_LOG_LEVEL: process.env['SLIPWAY_LOG_LEVEL'] ?? 'info',
    DOCKER_HOST: 'unix:///run/slipway-docker.sock',
  });
  if (!result.ok) throw new Error(result.problems.join('; '));
  const slipway = await startSlipway(result.config, ['http']);
  return {
    port: Number(new URL(slipway.url ?? '').port),
    async stop() {
      await slipway.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const kind = process.argv[2] as ServerKind;
const running = await start(kind, process.argv[3]);
process.on('message', (msg: { rss?: boolean; stop?: boolean }) => {
  if (msg.rss) process.send?.({ rss: peakRss });
  if (msg.stop) {
    void running.stop().finally(() => process.exit(0));
  }
});
process.send?.({ ready: running.port });
