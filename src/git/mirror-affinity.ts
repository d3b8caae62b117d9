import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';

const NODE_TTL_MS = 30_000;
const HOLDER_TTL_S = 24 * 3600;

/** A worker node = one machine's workspace: processes sharing a workspace share its mirrors. */
export function nodeIdOf(workspaceDir: string): string {
  return `${hostname()}:${createHash('sha256').update(workspaceDir).digest('hex').slice(0, 8)}`;
}

/**
 * Warm affinity: build jobs of a project prefer the node that holds its mirror. A job picked up
 * elsewhere waits briefly for that node, but only while it is young and the holder is alive, so a
 * busy or dead holder never starves the project.
 */
export class MirrorAffinity {
  constructor(
    private readonly redis: Redis | Cluster,
    private readonly prefix: string,
    readonly nodeId: string,
    private readonly maxWaitMs: number,
  ) {}

  private holderKey(projectId: number): string {
    return `${this.prefix}:mirror-holder:${projectId}`;
  }

  private nodeKey(nodeId: string): string {
    return `${this.prefix}:node:${nodeId}`;
  }

  /** Only nodes that run build jobs claim mirrors (a planner-only node's mirror helps no build). */
  private buildsHere = false;

  /** Announces this node as alive (and a build node) until stopped. */
  startHeartbeat(): () => void {
    this.buildsHere = true;
    const beat = () => void this.redis.set(this.nodeKey(this.nodeId), '1', 'PX', NODE_TTL_MS).catch(() => undefined);
    beat();
    const timer = setInterval(beat, NODE_TTL_MS / 3);
    return () => clearInterval(timer);
  }

  async recordHolder(projectId: number): Promise<void> {
    if (!this.buildsHere) return;
    await this.redis.set(this.holderKey(projectId), this.nodeId, 'EX', HOLDER_TTL_S);
  }

  /** The node this job should wait for, or undefined to run it here now. */
  async preferredElsewhere(projectId: number, jobAgeMs: number): Promise<string | undefined> {
    if (jobAgeMs >= this.maxWaitMs) return undefined;
    const holder = await this.redis.get(this.holderKey(projectId));
    if (!holder || holder === this.nodeId) return undefined;
    return (await this.redis.exists(this.nodeKey(holder))) === 1 ? holder : undefined;
  }
}
