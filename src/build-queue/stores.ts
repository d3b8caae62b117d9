import { CacheStore } from '../caches/cache-store.js';
import { RegistryStore } from '../caches/registry-store.js';
import { StoreIndex } from '../caches/store-index.js';
import type { JobContext } from '../jobs/context.js';
import { RegistryClient } from '../registry/registry-client.js';
import type { Cluster, Redis } from 'ioredis';

export interface Stores {
  store: RegistryStore;
  index: StoreIndex;
}

/** The registry every build node reaches, holding artifacts and caches, with this node's copy in front. */
export function openStores(config: JobContext['config'], redis: Redis | Cluster): Stores {
  const { username, password } = config.registry;
  const client = new RegistryClient({
    registry: config.registry.host,
    ...(username !== undefined && password !== undefined ? { auth: { username, password } } : {}),
  });
  return {
    store: new RegistryStore(client, new CacheStore(config.cache.dir, config.cache.maxBytes), config.store.repository),
    index: new StoreIndex(redis, config.redisPrefix),
  };
}
