import protobuf from 'protobufjs';

/**
 * The few protobuf messages the engine's BuildKit speaks to us, declared here instead of vendoring
 * .proto files. Field numbers follow:
 *  - github.com/tonistiigi/fsutil types/stat.proto and types/wire.proto (the file sync packets),
 *  - github.com/moby/buildkit api/services/control/control.proto (StatusResponse, the build trace),
 *  - grpc/grpc-proto grpc/health/v1/health.proto (the session's health check),
 *  - github.com/moby/buildkit session/auth/auth.proto (registry credentials for FROM and cache-from).
 */
const root = protobuf.Root.fromJSON({
  nested: {
    fsutil: {
      nested: {
        Stat: {
          fields: {
            path: { type: 'string', id: 1 },
            mode: { type: 'uint32', id: 2 },
            uid: { type: 'uint32', id: 3 },
            gid: { type: 'uint32', id: 4 },
            size: { type: 'int64', id: 5 },
            modTime: { type: 'int64', id: 6 },
            linkname: { type: 'string', id: 7 },
            devmajor: { type: 'int64', id: 8 },
            devminor: { type: 'int64', id: 9 },
          },
        },
        Packet: {
          fields: {
            type: { type: 'int32', id: 1 },
            stat: { type: 'Stat', id: 2 },
            ID: { type: 'uint32', id: 3 },
            data: { type: 'bytes', id: 4 },
          },
        },
      },
    },
    auth: {
      nested: {
        CredentialsRequest: { fields: { Host: { type: 'string', id: 1 } } },
        CredentialsResponse: { fields: { Username: { type: 'string', id: 1 }, Secret: { type: 'string', id: 2 } } },
      },
    },
    health: {
      nested: {
        HealthCheckResponse: { fields: { status: { type: 'int32', id: 1 } } },
      },
    },
    buildkit: {
      nested: {
        Timestamp: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
        Vertex: {
          fields: {
            digest: { type: 'string', id: 1 },
            inputs: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            cached: { type: 'bool', id: 4 },
            started: { type: 'Timestamp', id: 5 },
            completed: { type: 'Timestamp', id: 6 },
            error: { type: 'string', id: 7 },
          },
        },
        VertexStatus: {
          fields: {
            ID: { type: 'string', id: 1 },
            vertex: { type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            current: { type: 'int64', id: 4 },
            total: { type: 'int64', id: 5 },
            timestamp: { type: 'Timestamp', id: 6 },
            started: { type: 'Timestamp', id: 7 },
            completed: { type: 'Timestamp', id: 8 },
          },
        },
        VertexLog: {
          fields: {
            vertex: { type: 'string', id: 1 },
            timestamp: { type: 'Timestamp', id: 2 },
            stream: { type: 'int64', id: 3 },
            msg: { type: 'bytes', id: 4 },
          },
        },
        StatusResponse: {
          fields: {
            vertexes: { rule: 'repeated', type: 'Vertex', id: 1 },
            statuses: { rule: 'repeated', type: 'VertexStatus', id: 2 },
            logs: { rule: 'repeated', type: 'VertexLog', id: 3 },
          },
        },
      },
    },
  },
});

export const PacketType = { STAT: 0, REQ: 1, DATA: 2, FIN: 3, ERR: 4 } as const;

export interface FileStat {
  path: string;
  /** Go's os.FileMode bits (not st_mode): see goMode() in git-tree.ts. */
  mode: number;
  uid?: number;
  gid?: number;
  size: number;
  /** Nanoseconds since the epoch. */
  modTime: bigint;
  linkname?: string;
}

export interface Packet {
  type: number;
  stat?: FileStat;
  id?: number;
  data?: Uint8Array;
}

const PacketMsg = root.lookupType('fsutil.Packet');
const HealthMsg = root.lookupType('health.HealthCheckResponse');
const StatusMsg = root.lookupType('buildkit.StatusResponse');

export function encodePacket(p: Packet): Uint8Array {
  // int64 fields take decimal strings: a nanosecond mtime does not fit a JS number exactly.
  const stat = p.stat ? { ...p.stat, modTime: p.stat.modTime.toString(), size: String(p.stat.size) } : undefined;
  return PacketMsg.encode(PacketMsg.fromObject({ type: p.type, ...(stat ? { stat } : {}), ID: p.id ?? 0, data: p.data ?? new Uint8Array() })).finish();
}

export function decodePacket(buf: Uint8Array): Packet {
  const o = PacketMsg.toObject(PacketMsg.decode(buf), { longs: String, defaults: true }) as {
    type: number;
    ID: number;
    data: Uint8Array;
    stat?: { path: string; mode: number; size: string; modTime: string; linkname: string };
  };
  return {
    type: o.type,
    id: o.ID,
    data: o.data,
    ...(o.stat
      ? { stat: { path: o.stat.path, mode: o.stat.mode, size: Number(o.stat.size), modTime: BigInt(o.stat.modTime), linkname: o.stat.linkname } }
      : {}),
  };
}

const CredReq = root.lookupType('auth.CredentialsRequest');
const CredRes = root.lookupType('auth.CredentialsResponse');

export function decodeCredentialsRequest(buf: Uint8Array): { host: string } {
  return { host: String((CredReq.toObject(CredReq.decode(buf), { defaults: true }) as { Host: string }).Host) };
}

export function encodeCredentialsResponse(c: { username: string; secret: string }): Uint8Array {
  return CredRes.encode(CredRes.fromObject({ Username: c.username, Secret: c.secret })).finish();
}

/** grpc.health.v1.HealthCheckResponse{status: SERVING}. */
export const HEALTH_SERVING: Uint8Array = HealthMsg.encode(HealthMsg.fromObject({ status: 1 })).finish();

export interface TraceVertex {
  digest: string;
  name: string;
  cached: boolean;
  started?: number;
  completed?: number;
  error: string;
}
export interface TraceStatus {
  id: string;
  vertex: string;
  name: string;
  current: number;
  total: number;
  completed?: number;
}
export interface TraceLog {
  vertex: string;
  stream: number;
  msg: Uint8Array;
}
export interface Trace {
  vertexes: TraceVertex[];
  statuses: TraceStatus[];
  logs: TraceLog[];
}

interface RawTimestamp {
  seconds: string;
  nanos: number;
}
const ms = (t: RawTimestamp | undefined): number | undefined => (t ? Number(t.seconds) * 1000 + Math.floor(t.nanos / 1e6) : undefined);
const opt = <K extends string>(key: K, v: number | undefined): { [P in K]?: number } => (v === undefined ? {} : ({ [key]: v } as { [P in K]?: number }));

/** One `moby.buildkit.trace` message of the engine's build stream (base64 StatusResponse). */
export function decodeTrace(buf: Uint8Array): Trace {
  const o = StatusMsg.toObject(StatusMsg.decode(buf), { longs: String, defaults: true, arrays: true }) as {
    vertexes: { digest: string; name: string; cached: boolean; started?: RawTimestamp; completed?: RawTimestamp; error: string }[];
    statuses: { ID: string; vertex: string; name: string; current: string; total: string; completed?: RawTimestamp }[];
    logs: { vertex: string; stream: string; msg: Uint8Array }[];
  };
  return {
    vertexes: o.vertexes.map((v) => ({
      digest: v.digest,
      name: v.name,
      cached: v.cached,
      error: v.error,
      ...opt('started', ms(v.started)),
      ...opt('completed', ms(v.completed)),
    })),
    statuses: o.statuses.map((s) => ({
      id: s.ID,
      vertex: s.vertex,
      name: s.name,
      current: Number(s.current),
      total: Number(s.total),
      ...opt('completed', ms(s.completed)),
    })),
    logs: o.logs.map((l) => ({ vertex: l.vertex, stream: Number(l.stream), msg: l.msg })),
  };
}

/** For tests and the fake side of the protocol: the inverse of decodeTrace for the fields we read. */
export function encodeTrace(t: {
  vertexes?: { digest: string; name: string; cached?: boolean; error?: string; started?: number; completed?: number }[];
  logs?: { vertex: string; stream: number; msg: Uint8Array }[];
}): Uint8Array {
  const ts = (m: number | undefined): RawTimestamp | undefined =>
    m === undefined ? undefined : { seconds: String(Math.floor(m / 1000)), nanos: (m % 1000) * 1e6 };
  return StatusMsg.encode(
    StatusMsg.fromObject({
      vertexes: (t.vertexes ?? []).map((v) => ({ ...v, started: ts(v.started), completed: ts(v.completed) })),
      logs: t.logs ?? [],
    }),
  ).finish();
}
