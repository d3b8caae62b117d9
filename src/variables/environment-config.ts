import type { Cluster, Redis } from 'ioredis';

/**
 * An environment's config set through the API: plain (non-secret) values that become the pods'
 * environment (the Kubernetes ConfigMap, the Docker host's container environment), layered over
 * the pipeline file's `variables:` of that environment. Stored as plain text and shown by GET:
 * secrets belong in project variables (sealed, masked, template values only).
 */
export interface EnvironmentConfig {
  /** 0 before the first change; every change adds 1. */
  revision: number;
  values: Record<string, string>;
  /** When and by whom the last change was made (absent before the first). */
  updatedAt?: string;
  updatedBy?: string;
}

/** An environment variable name, as the pods' environment (envFrom) accepts it. */
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const CONFIG_LIMITS = { keys: 200, keyLength: 253, valueBytes: 32 * 1024, totalBytes: 256 * 1024 } as const;
/** Names Slipway sets itself on every release: config may not shadow them. */
const RESERVED = /^(SLIPWAY_.*|PORT)$/;

/** The problems of a set of config values (empty when they are fine); `existing` counts toward the limits. */
export function configProblems(values: Record<string, unknown>, existing: Record<string, string> = {}): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    if (!KEY.test(key) || key.length > CONFIG_LIMITS.keyLength)
      problems.push(
        `values.${key.slice(0, 80)}: a key is an environment variable name (letters, digits and _, not starting with a digit, at most ${CONFIG_LIMITS.keyLength} characters)`,
      );
    else if (RESERVED.test(key))
      problems.push(`values.${key}: reserved: Slipway sets ${key.startsWith('SLIPWAY_') ? 'SLIPWAY_* names' : 'PORT'} on every release itself`);
    if (typeof value !== 'string') problems.push(`values.${key.slice(0, 80)}: must be a string (got ${value === null ? 'null' : typeof value})`);
    else if (Buffer.byteLength(value) > CONFIG_LIMITS.valueBytes) problems.push(`values.${key.slice(0, 80)}: at most ${CONFIG_LIMITS.valueBytes / 1024} KB`);
  }
  const merged = { ...existing, ...values };
  const count = Object.keys(merged).length;
  if (count > CONFIG_LIMITS.keys) problems.push(`values: at most ${CONFIG_LIMITS.keys} keys per environment (would be ${count})`);
  const total = Object.entries(merged).reduce((n, [k, v]) => n + Buffer.byteLength(k) + (typeof v === 'string' ? Buffer.byteLength(v) : 0), 0);
  if (total > CONFIG_LIMITS.totalBytes)
    problems.push(`values: at most ${CONFIG_LIMITS.totalBytes / 1024} KB per environment in all (would be ${Math.ceil(total / 1024)} KB)`);
  return problems;
}

// Read, change and bump the revision in one step, so two concurrent changes never lose one
// another's keys and each gets its own revision. ARGV: 1 JSON of keys to set, 2 JSON list of keys
// to delete, 3 time, 4 actor. Returns {revision, changed (0/1), values JSON}.
const CHANGE_SCRIPT = `
local raw = redis.call('HGET', KEYS[1], 'values')
local values = raw and cjson.decode(raw) or {}
local changed = false
for k, v in pairs(cjson.decode(ARGV[1])) do
  if values[k] ~= v then values[k] = v; changed = true end
end
for _, k in ipairs(cjson.decode(ARGV[2])) do
  if values[k] ~= nil then values[k] = nil; changed = true end
end
local revision = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
if not changed then return {revision, 0, raw or '{}'} end
revision = revision + 1
local encoded = next(values) and cjson.encode(values) or '{}'
redis.call('HSET', KEYS[1], 'values', encoded, 'revision', revision, 'updatedAt', ARGV[3], 'updatedBy', ARGV[4])
return {revision, 1, encoded}`;

export interface ConfigChange {
  config: EnvironmentConfig;
  /** False when the values were already so: no new revision, nothing to release. */
  changed: boolean;
}

/** Environment config in Redis: one hash per (service, environment), kept without expiry. */
export class EnvironmentConfigStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix = 'slipway',
  ) {}

  private key(service: string, environment: string): string {
    return `${this.prefix}:envconfig:${service}:${environment}`;
  }

  async read(service: string, environment: string): Promise<EnvironmentConfig> {
    const h = await this.redis.hgetall(this.key(service, environment));
    return {
      revision: Number(h['revision'] ?? '0'),
      values: h['values'] ? (JSON.parse(h['values']) as Record<string, string>) : {},
      ...(h['updatedAt'] ? { updatedAt: h['updatedAt'] } : {}),
      ...(h['updatedBy'] ? { updatedBy: h['updatedBy'] } : {}),
    };
  }

  /** Sets `set` and removes `remove` in one new revision (none when nothing changes). Validate first. */
  async change(service: string, environment: string, change: { set?: Record<string, string>; remove?: string[] }, actor: string): Promise<ConfigChange> {
    const now = new Date().toISOString();
    // cjson encodes an empty Lua table as {}, so an empty list is sent as a JSON object too.
    const remove = change.remove && change.remove.length > 0 ? JSON.stringify(change.remove) : '{}';
    const [revision, changed, encoded] = (await this.redis.eval(
      CHANGE_SCRIPT,
      1,
      this.key(service, environment),
      JSON.stringify(change.set ?? {}),
      remove,
      now,
      actor,
    )) as [number, number, string];
    const values = JSON.parse(encoded) as Record<string, string> | unknown[];
    return {
      config: { revision, values: Array.isArray(values) ? {} : values, ...(changed === 1 ? { updatedAt: now, updatedBy: actor } : {}) },
      changed: changed === 1,
    };
  }
}
