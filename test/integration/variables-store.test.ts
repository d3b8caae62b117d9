import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/embedded/redis-server.js';
import { VariableStore, type VariableInput } from '../../src/variables/variable-store.js';

// The variable store on the real (embedded) Redis: what a job gets, what the API may show and what
// lies on disk.
describe('VariableStore on Redis', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'slipway-vars-'));
  const key = randomBytes(32);
  let server: EmbeddedRedis;
  let redis: Redis;
  let store: VariableStore;
  let project = 100;

  const v = (name: string, value: string, more: Partial<VariableInput> = {}): VariableInput => ({
    name,
    value,
    environment: '*',
    masked: false,
    protected: false,
    ...more,
  });

  beforeAll(async () => {
    server = await startEmbeddedRedis(dir, () => undefined);
    redis = new Redis({ path: server.socketPath });
    store = new VariableStore(redis, key);
  });
  afterAll(async () => {
    redis.disconnect();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    project += 1; // a fresh project per test
  });

  it('set upserts, list shows every variable sorted by scope and name, masked values as null', async () => {
    await store.set(project, v('REGION', 'eu-west'));
    await store.set(project, v('API_TOKEN', 'tok-0123456789', { masked: true, protected: true }));
    await store.set(project, v('REGION', 'cn-north', { environment: 'production' }));
    await store.set(project, v('REGION', 'eu-central')); // upsert
    expect(await store.list(project)).toEqual([
      { name: 'API_TOKEN', environment: '*', masked: true, protected: true, value: null },
      { name: 'REGION', environment: '*', masked: false, protected: false, value: 'eu-central' },
      { name: 'REGION', environment: 'production', masked: false, protected: false, value: 'cn-north' },
    ]);
    expect(await store.list(project + 1000)).toEqual([]);
  });

  it('remove deletes one scope of a variable and says whether there was one', async () => {
    await store.set(project, v('REGION', 'eu-west'));
    await store.set(project, v('REGION', 'cn-north', { environment: 'production' }));
    expect(await store.remove(project, 'production', 'REGION')).toBe(true);
    expect(await store.remove(project, 'production', 'REGION')).toBe(false);
    expect((await store.list(project)).map((x) => `${x.environment}:${x.name}`)).toEqual(['*:REGION']);
  });

  it('resolve: the environment overrides *, protected only on protected refs, nothing for forks', async () => {
    await store.set(project, v('DB_URL', 'postgres://shared'));
    await store.set(project, v('DB_URL', 'postgres://pre', { environment: 'pre' }));
    await store.set(project, v('DEPLOY_KEY', 'key-abcdefgh-1', { masked: true, protected: true }));
    await store.set(project, v('SENTRY_DSN', 'dsn-xyz-12345', { masked: true }));
    await store.set(project, v('PROD_ONLY', 'p', { environment: 'production' }));

    expect(await store.resolve(project, { environment: 'pre', protectedRef: true, fork: false })).toEqual({
      values: { DB_URL: 'postgres://pre', DEPLOY_KEY: 'key-abcdefgh-1', SENTRY_DSN: 'dsn-xyz-12345' },
      masked: expect.arrayContaining(['key-abcdefgh-1', 'dsn-xyz-12345']) as unknown as string[],
    });
    expect((await store.resolve(project, { environment: 'production', protectedRef: true, fork: false })).values).toEqual({
      DB_URL: 'postgres://shared',
      DEPLOY_KEY: 'key-abcdefgh-1',
      SENTRY_DSN: 'dsn-xyz-12345',
      PROD_ONLY: 'p',
    });
    // A feature branch (unprotected) never sees the protected deploy key, nor its value in the masker list.
    expect(await store.resolve(project, { environment: undefined, protectedRef: false, fork: false })).toEqual({
      values: { DB_URL: 'postgres://shared', SENTRY_DSN: 'dsn-xyz-12345' },
      masked: ['dsn-xyz-12345'],
    });
    expect(await store.resolve(project, { environment: 'pre', protectedRef: true, fork: true })).toEqual({ values: {}, masked: [] });
  });

  it('refuses invalid variables before anything is written', async () => {
    await expect(store.set(project, v('1BAD', 'x'))).rejects.toThrow(/name: letters, digits and _/);
    await expect(store.set(project, v('SHORT', 'abc', { masked: true }))).rejects.toThrow('a masked value needs at least 8 characters');
    await expect(store.set(project, v('X', 'y', { environment: 'Prod:1' }))).rejects.toThrow("environment: '*' or an environment name");
    expect(await redis.exists(`slipway:vars:${project}`)).toBe(0);
  });

  it('keeps only ciphertext at rest; a tampered or moved value and a wrong key fail to decrypt', async () => {
    const secret = 'hunter2-super-secret';
    await store.set(project, v('DB_PASSWORD', secret, { masked: true }));
    const raw = await redis.hgetall(`slipway:vars:${project}`);
    expect(Object.keys(raw)).toEqual(['*:DB_PASSWORD']);
    const record = JSON.parse(raw['*:DB_PASSWORD'] ?? '') as { masked: boolean; sealed: string };
    expect(record.sealed).toMatch(/^v1\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+$/);
    const dump = JSON.stringify(raw);
    for (const form of [secret, Buffer.from(secret).toString('base64'), Buffer.from(secret).toString('hex')]) expect(dump).not.toContain(form);

    // Same value twice → different ciphertexts (fresh IV).
    await store.set(project, v('DB_PASSWORD2', secret, { masked: true }));
    const again = JSON.parse((await redis.hget(`slipway:vars:${project}`, '*:DB_PASSWORD2')) ?? '') as { sealed: string };
    expect(again.sealed).not.toBe(record.sealed);
    await store.remove(project, '*', 'DB_PASSWORD2');

    // A wrong key cannot read it, and says which variable.
    const otherKey = new VariableStore(redis, randomBytes(32));
    await expect(otherKey.list(project)).rejects.toThrow(`variable DB_PASSWORD (environment *) of project ${project} cannot be decrypted`);
    await expect(otherKey.resolve(project, { environment: undefined, protectedRef: true, fork: false })).rejects.toThrow('cannot be decrypted');

    // One flipped bit of ciphertext: the auth tag rejects it.
    const [ver, iv, tag, body] = record.sealed.split('.');
    const bytes = Buffer.from(body ?? '', 'base64');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    await redis.hset(`slipway:vars:${project}`, '*:DB_PASSWORD', JSON.stringify({ ...record, sealed: [ver, iv, tag, bytes.toString('base64')].join('.') }));
    await expect(store.resolve(project, { environment: undefined, protectedRef: true, fork: false })).rejects.toThrow('cannot be decrypted');

    // The intact ciphertext copied to another variable (or project) is refused too: identity is bound in.
    await redis.hdel(`slipway:vars:${project}`, '*:DB_PASSWORD');
    await redis.hset(`slipway:vars:${project}`, '*:PUBLIC_NAME', JSON.stringify({ ...record, masked: false }));
    await expect(store.list(project)).rejects.toThrow('variable PUBLIC_NAME (environment *)');
    await redis.hdel(`slipway:vars:${project}`, '*:PUBLIC_NAME');
    await redis.hset(`slipway:vars:${project + 1}`, '*:DB_PASSWORD', JSON.stringify(record));
    await expect(store.list(project + 1)).rejects.toThrow('cannot be decrypted');
  });
});
