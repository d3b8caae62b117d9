import type { Cluster, Redis } from 'ioredis';

/**
 * What the retention rules need to know about entries in the registry, kept in Redis (which every
 * node shares and which is durable): when each artifacts manifest expires, and when each cache
 * tag of a project was last used and how big it is. The registry has no "last used" of its own
 * and listing a repository's tags does not scale, so the index is the one place that answers
 * "what to delete".
 */
export class StoreIndex {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix: string,
  ) {}

  private get expiryKey(): string {
    return `${this.prefix}:store:expiry`;
  }

  private usedKey(projectId: number): string {
    return `${this.prefix}:store:cache-used:${projectId}`;
  }

  private bytesKey(projectId: number): string {
    return `${this.prefix}:store:cache-bytes:${projectId}`;
  }

  /** Records that `repository@digest` is to be deleted at `atMs`. */
  async expireAt(repository: string, digest: string, atMs: number): Promise<void> {
    await this.redis.zadd(this.expiryKey, atMs, `${repository}@${digest}`);
  }

  /** Entries whose time has come (at most `limit`), oldest first. */
  async due(nowMs: number, limit: number): Promise<Array<{ repository: string; digest: string; member: string; atMs: number }>> {
    const flat = await this.redis.zrangebyscore(this.expiryKey, '-inf', nowMs, 'WITHSCORES', 'LIMIT', 0, limit);
    const out: Array<{ repository: string; digest: string; member: string; atMs: number }> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const member = flat[i] ?? '';
      const at = member.lastIndexOf('@');
      if (at > 0) out.push({ repository: member.slice(0, at), digest: member.slice(at + 1), member, atMs: Number(flat[i + 1]) });
    }
    return out;
  }

  /** Takes an entry off the list; true for exactly one caller, so two sweeping nodes never both delete it. */
  async claim(member: string): Promise<boolean> {
    return (await this.redis.zrem(this.expiryKey, member)) === 1;
  }

  /** Puts a claimed entry back (its delete failed): the next sweep tries again. */
  async unclaim(member: string, atMs: number): Promise<void> {
    await this.redis.zadd(this.expiryKey, atMs, member);
  }

  /** A cache tag was saved (with its size) or restored (size unchanged) now. */
  async touchCache(projectId: number, tag: string, nowMs: number, bytes?: number): Promise<void> {
    const tx = this.redis.multi().zadd(this.usedKey(projectId), nowMs, tag);
    if (bytes !== undefined) tx.hset(this.bytesKey(projectId), tag, String(bytes));
    await tx.exec();
  }

  /** Least recently used cache tags of the project to remove so the rest fits in maxBytes; `keep` stays. */
  async cachesOverBound(projectId: number, maxBytes: number, keep: string): Promise<string[]> {
    const [tags, sizes] = await Promise.all([this.redis.zrange(this.usedKey(projectId), 0, -1), this.redis.hgetall(this.bytesKey(projectId))]);
    let total = tags.reduce((sum, t) => sum + Number(sizes[t] ?? 0), 0);
    const out: string[] = [];
    for (const tag of tags) {
      if (total <= maxBytes) break;
      if (tag === keep) continue;
      out.push(tag);
      total -= Number(sizes[tag] ?? 0);
    }
    return out;
  }

  async forgetCache(projectId: number, tag: string): Promise<void> {
    await this.redis.multi().zrem(this.usedKey(projectId), tag).hdel(this.bytesKey(projectId), tag).exec();
  }
}
