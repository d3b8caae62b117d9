import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';

const run = promisify(execFile);

/**
 * Real Redis topologies on 127.0.0.1 for tests (Debian's redis-server 7.0; a sentinel is
 * `redis-server <conf> --sentinel`, so the redis-sentinel package is not needed). Every data node
 * runs as Slipway requires (appendonly yes, appendfsync always, noeviction) in a temp dir of its
 * own; stop() kills every process (SIGKILL) and removes the dir.
 */
export interface RedisNodeProcess {
  port: number;
  child: ChildProcess;
  /** SIGKILL: a crash, nothing flushed beyond what the AOF already has. */
  kill(): Promise<void>;
}

export interface SentinelGroup {
  name: string;
  master: RedisNodeProcess;
  replicas: RedisNodeProcess[];
  sentinels: RedisNodeProcess[];
  /** SLIPWAY_REDIS_SENTINELS + SLIPWAY_REDIS_SENTINEL_NAME for this group. */
  env: Record<string, string>;
  /** The master's port as the sentinels see it now. */
  masterPort(): Promise<number>;
  stop(): Promise<void>;
}

export interface RedisClusterProcesses {
  masters: RedisNodeProcess[];
  replicas: RedisNodeProcess[];
  /** SLIPWAY_REDIS_CLUSTER for this cluster. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

const DURABLE = ['--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction', '--save', ''];

/** Ports below 55536, so a cluster bus port (port + 10000, Redis' default) would still be valid; we set it anyway. */
async function freePort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (typeof address === 'object' && address && address.port < 55_536) return address.port;
  }
  throw new Error('no free port below 55536 after 50 tries');
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms${last instanceof Error ? ` (${last.message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One short-lived connection per question: a test's probes never reconnect by themselves. */
export async function ask<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({
    host: '127.0.0.1',
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 1_000,
    commandTimeout: 3_000,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

async function startNode(dir: string, port: number, args: string[]): Promise<RedisNodeProcess> {
  const child = spawn('redis-server', args, { stdio: 'ignore', cwd: dir });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await until(`redis-server on ${port} answering PING`, 10_000, async () => {
    if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited with ${child.exitCode}`);
    return (await ask(port, (r) => r.ping())) === 'PONG' ? true : undefined;
  });
  return {
    port,
    child,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
    },
  };
}

async function dataNode(root: string, name: string, extra: string[]): Promise<RedisNodeProcess> {
  const port = await freePort();
  const nodeDir = mkdtempSync(path.join(root, `${name}-`));
  return startNode(nodeDir, port, ['--port', String(port), '--bind', '127.0.0.1', '--dir', nodeDir, '--daemonize', 'no', ...DURABLE, ...extra]);
}

/**
 * A Sentinel group: one master, `replicas` replicas, three sentinels (quorum 2), failure detected
 * after 1 s. Returns once every sentinel knows the master, every replica and the other sentinels.
 */
export async function startSentinelGroup(opts: { replicas?: number; name?: string } = {}): Promise<SentinelGroup> {
  const root = mkdtempSync(path.join(tmpdir(), 'slipway-sentinel-'));
  const name = opts.name ?? 'slipway-test';
  const all: RedisNodeProcess[] = [];
  try {
    const master = await dataNode(root, 'master', []);
    all.push(master);
    const replicas: RedisNodeProcess[] = [];
    for (let i = 0; i < (opts.replicas ?? 2); i++) {
      const r = await dataNode(root, `replica${i}`, ['--replicaof', '127.0.0.1', String(master.port)]);
      replicas.push(r);
      all.push(r);
    }
    await until('replicas in sync with the master', 15_000, async () => {
      const info = await ask(master.port, (r) => r.info('replication'));
      return new RegExp(`connected_slaves:${replicas.length}`).test(info) && !/state=(wait_bgsave|send_bulk)/.test(info) ? true : undefined;
    });
    const sentinels: RedisNodeProcess[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const dir = mkdtempSync(path.join(root, `sentinel${i}-`));
      const conf = path.join(dir, 'sentinel.conf');
      // Sentinel rewrites its config file (what it learned), so each has its own, writable.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${name} 127.0.0.1 ${master.port} 2`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 10000`,
          `sentinel parallel-syncs ${name} 1`,
          '',
        ].join('\n'),
      );
      const s = await startNode(dir, port, [conf, '--sentinel']);
      sentinels.push(s);
      all.push(s);
    }
    await until('sentinels know the replicas and each other', 20_000, async () => {
      for (const s of sentinels) {
        const m = (await ask(s.port, (r) => r.call('SENTINEL', 'MASTER', name))) as string[];
        const field = (k: string) => Number(m[m.indexOf(k) + 1]);
        if (field('num-slaves') < replicas.length || field('num-other-sentinels') < 2) return undefined;
      }
      return true;
    });
    const group: SentinelGroup = {
      name,
      master,
      replicas,
      sentinels,
      env: { SLIPWAY_REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','), SLIPWAY_REDIS_SENTINEL_NAME: name },
      async masterPort() {
        const addr = (await ask(sentinels[0]?.port ?? 0, (r) => r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name))) as string[];
        return Number(addr[1]);
      },
      async stop() {
        await Promise.all(all.map((p) => p.kill()));
        rmSync(root, { recursive: true, force: true });
      },
    };
    return group;
  } catch (err) {
    await Promise.all(all.map((p) => p.kill()));
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

/**
 * A Redis Cluster of three masters, each with `replicasPerMaster` replicas (redis-cli --cluster
 * create), node timeout 2 s. Returns once every node says cluster_state:ok and every slot is served.
 */
export async function startRedisCluster(opts: { replicasPerMaster?: number } = {}): Promise<RedisClusterProcesses> {
  const root = mkdtempSync(path.join(tmpdir(), 'slipway-cluster-'));
  const perMaster = opts.replicasPerMaster ?? 1;
  const nodes: RedisNodeProcess[] = [];
  try {
    for (let i = 0; i < 3 * (1 + perMaster); i++) {
      const bus = await freePort();
      nodes.push(
        await dataNode(root, `node${i}`, [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '2000',
          '--cluster-port',
          String(bus),
        ]),
      );
    }
    // The first three become masters, the rest their replicas (redis-cli's order).
    await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(perMaster), '--cluster-yes'], {
      timeout: 30_000,
    });
    const masters: RedisNodeProcess[] = [];
    const replicas: RedisNodeProcess[] = [];
    // Ready when all slots are served and every replica has finished its first sync: a replica
    // still syncing cannot take over its master, so a failover test would meet a dead cluster.
    await until('every node says cluster_state:ok and every replica is in sync with its master', 30_000, async () => {
      masters.length = 0;
      replicas.length = 0;
      for (const n of nodes) {
        const info = await ask(n.port, (r) => r.cluster('INFO'));
        if (!/cluster_state:ok/.test(info) || Number(/cluster_known_nodes:(\d+)/.exec(info)?.[1]) < nodes.length) return undefined;
        const replication = await ask(n.port, (r) => r.info('replication'));
        if (/role:master/.test(replication)) masters.push(n);
        else if (/master_link_status:up/.test(replication) && /master_sync_in_progress:0/.test(replication)) replicas.push(n);
        else return undefined;
      }
      return masters.length === 3 && replicas.length === nodes.length - 3 ? true : undefined;
    });
    return {
      masters,
      replicas,
      env: { SLIPWAY_REDIS_CLUSTER: nodes.map((n) => `127.0.0.1:${n.port}`).join(',') },
      async stop() {
        await Promise.all(nodes.map((p) => p.kill()));
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((p) => p.kill()));
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
}

/** The cluster node (master) serving the slot of `key`. */
export async function masterOfKey(cluster: RedisClusterProcesses, key: string): Promise<RedisNodeProcess> {
  const any = cluster.masters[0] ?? cluster.replicas[0];
  if (!any) throw new Error('cluster has no nodes');
  const slot = await ask(any.port, (r) => r.cluster('KEYSLOT', key));
  for (const m of [...cluster.masters, ...cluster.replicas]) {
    const role = (await ask(m.port, (r) => r.role()).catch(() => undefined)) as unknown[] | undefined;
    if (role?.[0] !== 'master') continue;
    const myRanges = await ask(m.port, async (r) => {
      const lines = String(await r.cluster('NODES')).split('\n');
      const me = lines.find((l) => l.includes('myself'));
      return (me?.split(' ').slice(8) ?? []).map((range) => range.split('-').map(Number));
    });
    if (myRanges.some(([a, b]) => a !== undefined && slot >= a && slot <= (b ?? a))) return m;
  }
  throw new Error(`no master serves slot ${slot} of ${key}`);
}
