import type { Cluster, Redis } from 'ioredis';
import { decrypt, encrypt } from './crypto.js';

/** A project variable ('*' = every environment) or one scoped to an environment. */
export interface VariableInput {
  name: string;
  value: string;
  environment: string; // '*' or an environment name
  masked: boolean;
  protected: boolean;
}

/** What the API shows: never the value of a masked variable. */
export type VariableView = Omit<VariableInput, 'value'> & { value: string | null };

export interface ResolveFor {
  environment: string | undefined;
  /** The ref is protected in GitLab (default branch, protected branches and tags). */
  protectedRef: boolean;
  /** Merge request from a fork: gets no variables at all. */
  fork: boolean;
}

export interface ResolvedVariables {
  values: Record<string, string>;
  /** Values the masker must hide in every log line, record and note. */
  masked: string[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/;
export const MIN_MASKED_LENGTH = 8;

export function validateVariable(v: VariableInput): string | null {
  if (!NAME.test(v.name)) return 'name: letters, digits and _, not starting with a digit';
  if (v.environment !== '*' && !/^[a-z0-9-]+$/.test(v.environment)) return "environment: '*' or an environment name";
  if (Buffer.byteLength(v.value) > 64 * 1024) return 'value: at most 64 KB';
  // Short masked values would mask ordinary words all over the logs (GitLab requires 8 too).
  if (v.masked && v.value.length < MIN_MASKED_LENGTH) return `value: a masked value needs at least ${MIN_MASKED_LENGTH} characters`;
  return null;
}

/**
 * Project and environment variables in Redis, one hash per project (field `<env>:<name>`), each
 * value sealed with AES-256-GCM. Writes are idempotent (set = upsert).
 */
export class VariableStore {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly key: Buffer,
    private readonly prefix = 'slipway',
  ) {}

  private hash(projectId: number): string {
    return `${this.prefix}:vars:${projectId}`;
  }

  private aad(projectId: number, environment: string, name: string): string {
    return `${projectId}:${environment}:${name}`;
  }

  async set(projectId: number, v: VariableInput): Promise<void> {
    const problem = validateVariable(v);
    if (problem) throw new Error(problem);
    const record = { masked: v.masked, protected: v.protected, sealed: encrypt(this.key, v.value, this.aad(projectId, v.environment, v.name)) };
    await this.redis.hset(this.hash(projectId), `${v.environment}:${v.name}`, JSON.stringify(record));
  }

  async remove(projectId: number, environment: string, name: string): Promise<boolean> {
    return (await this.redis.hdel(this.hash(projectId), `${environment}:${name}`)) > 0;
  }

  private async all(projectId: number): Promise<VariableInput[]> {
    const raw = await this.redis.hgetall(this.hash(projectId));
    return Object.entries(raw).map(([field, json]) => {
      const sep = field.indexOf(':');
      const environment = field.slice(0, sep);
      const name = field.slice(sep + 1);
      const r = JSON.parse(json) as { masked: boolean; protected: boolean; sealed: string };
      let value: string;
      try {
        value = decrypt(this.key, r.sealed, this.aad(projectId, environment, name));
      } catch {
        // GCM says only "unable to authenticate": name the variable and the two possible causes.
        throw new Error(
          `variable ${name} (environment ${environment}) of project ${projectId} cannot be decrypted: the variables key is not the one it was stored with, or the stored value was altered`,
        );
      }
      return { name, environment, masked: r.masked, protected: r.protected, value };
    });
  }

  async list(projectId: number): Promise<VariableView[]> {
    return (await this.all(projectId))
      .map((v) => ({ ...v, value: v.masked ? null : v.value }))
      .sort((a, b) => a.environment.localeCompare(b.environment) || a.name.localeCompare(b.name));
  }

  /**
   * The variables one job gets: project-wide ones, overridden by the environment's. Protected
   * ones only on protected refs; nothing for fork merge requests (their code is not trusted).
   */
  async resolve(projectId: number, f: ResolveFor): Promise<ResolvedVariables> {
    if (f.fork) return { values: {}, masked: [] };
    const usable = (await this.all(projectId)).filter((v) => !v.protected || f.protectedRef);
    const values: Record<string, string> = {};
    const masked = new Set<string>();
    for (const scope of ['*', f.environment]) {
      for (const v of usable.filter((u) => u.environment === scope)) {
        values[v.name] = v.value;
        if (v.masked) masked.add(v.value);
      }
    }
    return { values, masked: [...masked] };
  }
}
