import { describe, expect, it } from 'vitest';
import { readConfig, secretsOf } from '../../../src/config/config.js';

const base = { GITLAB_URL: 'https://gitlab.example.com', GITLAB_TOKEN: 'glpat-secret-value', SLIPWAY_WEBHOOK_SECRET: 'hook-secret' };

describe('readConfig', () => {
  it('reads SLIPWAY_CLUSTERS as name=kubeconfig pairs and names a bad one', () => {
    const r = readConfig({ ...base, SLIPWAY_CLUSTERS: 'pre=/k/pre.kubeconfig, prod-a=/k/a.kubeconfig' });
    expect(r.ok && r.config.kubernetes.clusters).toEqual({ pre: '/k/pre.kubeconfig', 'prod-a': '/k/a.kubeconfig' });
    expect(readConfig(base)).toMatchObject({ ok: true, config: { kubernetes: { clusters: {} } } });
    const bad = readConfig({ ...base, SLIPWAY_CLUSTERS: 'Pre:/k' });
    expect(bad.ok === false && bad.problems[0]).toContain('SLIPWAY_CLUSTERS must be name=kubeconfig-path pairs');
    const twice = readConfig({ ...base, SLIPWAY_CLUSTERS: 'a=/x,a=/y' });
    expect(twice.ok === false && twice.problems[0]).toContain('names cluster a twice');
  });

  it('SLIPWAY_EXECUTOR=kubernetes needs a cluster that SLIPWAY_CLUSTERS names', () => {
    expect(readConfig(base)).toMatchObject({ ok: true, config: { executor: { kind: 'docker' } } });
    const k = readConfig({
      ...base,
      SLIPWAY_CLUSTERS: 'ci=/k/ci',
      SLIPWAY_EXECUTOR: 'kubernetes',
      SLIPWAY_EXECUTOR_CLUSTER: 'ci',
      SLIPWAY_EXECUTOR_NAMESPACE: 'builds',
    });
    expect(k.ok && k.config.executor).toEqual({ kind: 'kubernetes', cluster: 'ci', namespace: 'builds', helperImage: 'busybox:1.36' });
    const none = readConfig({ ...base, SLIPWAY_EXECUTOR: 'kubernetes' });
    expect(none.ok === false && none.problems).toEqual(['SLIPWAY_EXECUTOR=kubernetes needs SLIPWAY_EXECUTOR_CLUSTER (a cluster named in SLIPWAY_CLUSTERS)']);
    const unknown = readConfig({ ...base, SLIPWAY_CLUSTERS: 'ci=/k/ci', SLIPWAY_EXECUTOR: 'kubernetes', SLIPWAY_EXECUTOR_CLUSTER: 'prod' });
    expect(unknown.ok === false && unknown.problems).toEqual(['SLIPWAY_EXECUTOR_CLUSTER names cluster prod, which SLIPWAY_CLUSTERS does not have (it has ci)']);
    const typo = readConfig({ ...base, SLIPWAY_EXECUTOR: 'k8s' });
    expect(typo.ok === false && typo.problems).toEqual(['SLIPWAY_EXECUTOR must be docker or kubernetes']);
  });

  it('reads a Sentinel group or a Cluster, tags the prefix on a Cluster, and names what is wrong', () => {
    const s = readConfig({
      ...base,
      SLIPWAY_REDIS_SENTINELS: '10.0.0.1:26379, [::1]:26380',
      SLIPWAY_REDIS_SENTINEL_NAME: 'mymaster',
      SLIPWAY_REDIS_PASSWORD: 'redis-pass',
    });
    expect(s.ok && s.config.redisTopology).toEqual({
      kind: 'sentinel',
      name: 'mymaster',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
      ],
    });
    expect(s.ok && [s.config.redisPrefix, s.config.redisWait.replicas, secretsOf(s.config).includes('redis-pass')]).toEqual(['slipway', 1, true]);
    const c = readConfig({ ...base, SLIPWAY_REDIS_CLUSTER: '127.0.0.1:7000,127.0.0.1:7001', SLIPWAY_REDIS_PREFIX: 'ci' });
    expect(c.ok && [c.config.redisTopology?.kind, c.config.redisPrefix]).toEqual(['cluster', '{ci}']);
    expect(readConfig(base)).toMatchObject({ ok: true, config: { redisPrefix: 'slipway', redisWait: { replicas: 0 } } });
    const problems = (env: Record<string, string>) => {
      const r = readConfig({ ...base, ...env });
      return r.ok ? [] : r.problems;
    };
    expect(problems({ SLIPWAY_REDIS_SENTINELS: '10.0.0.1:26379' })[0]).toContain('needs SLIPWAY_REDIS_SENTINEL_NAME');
    expect(problems({ SLIPWAY_REDIS_CLUSTER: 'host-without-port' })[0]).toContain(
      "SLIPWAY_REDIS_CLUSTER must be host:port pairs separated by commas, e.g. 10.0.0.1:26379,10.0.0.2:26379 (got 'host-without-port')",
    );
    expect(problems({ REDIS_URL: 'redis://r:6379', SLIPWAY_REDIS_CLUSTER: 'r:7000' })[0]).toContain('REDIS_URL and SLIPWAY_REDIS_CLUSTER are both set');
    expect(problems({ SLIPWAY_REDIS_PASSWORD: 'x' })[0]).toContain('REDIS_URL carries its own password');
  });

  it('fills the embedded defaults', () => {
    const r = readConfig(base);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.redisUrl).toBeUndefined();
    expect(r.config.http).toEqual({ host: '127.0.0.1', port: 8080, publicUrl: 'http://127.0.0.1:8080' });
    expect(r.config.gitBaseUrl).toBe('https://gitlab.example.com');
  });

  it('reports every problem at once and never prints a value', () => {
    const r = readConfig({ GITLAB_URL: 'not a url', SLIPWAY_PORT: 'eighty', REDIS_URL: 'http://glpat-leaky', SLIPWAY_WEBHOOK_SIGNING_SECRET: 'plain' });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.problems.join('\n');
    for (const name of ['GITLAB_URL', 'GITLAB_TOKEN', 'SLIPWAY_PORT', 'REDIS_URL', 'SLIPWAY_WEBHOOK_SIGNING_SECRET']) expect(text).toContain(name);
    expect(text).not.toContain('glpat-leaky');
  });

  it('takes SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY as true or false only (default false)', () => {
    const def = readConfig(base);
    expect(def.ok && def.config.redisAcceptWeakDurability).toBe(false);
    const on = readConfig({ ...base, SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY: 'true' });
    expect(on.ok && on.config.redisAcceptWeakDurability).toBe(true);
    expect(readConfig({ ...base, SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY: 'yes' })).toEqual({
      ok: false,
      problems: ['SLIPWAY_REDIS_ACCEPT_WEAK_DURABILITY must be true or false'],
    });
  });

  it('refuses credentials in GITLAB_URL or SLIPWAY_GIT_BASE_URL, naming the variable and never the value', () => {
    const r = readConfig({
      ...base,
      GITLAB_URL: 'https://root:glpat-in-url@gitlab.example.com',
      SLIPWAY_GIT_BASE_URL: 'https://oauth2:glpat-in-git-url@git.example.com/',
    });
    expect(r).toEqual({
      ok: false,
      problems: [
        'GITLAB_URL must not contain credentials (user:token@): remove them; Slipway sends GITLAB_TOKEN to GitLab and to git in a header',
        'SLIPWAY_GIT_BASE_URL must not contain credentials (user:token@): remove them; Slipway sends GITLAB_TOKEN to GitLab and to git in a header',
      ],
    });
    expect(readConfig({ ...base, SLIPWAY_GIT_BASE_URL: 'https://oauth2@git.example.com' }).ok).toBe(false);
    const plain = readConfig({ ...base, SLIPWAY_GIT_BASE_URL: 'https://git.example.com/' });
    expect(plain.ok && plain.config.gitBaseUrl).toBe('https://git.example.com');
  });

  it('requires a webhook secret', () => {
    const r = readConfig({ GITLAB_URL: base.GITLAB_URL, GITLAB_TOKEN: base.GITLAB_TOKEN });
    expect(r).toEqual({ ok: false, problems: [expect.stringContaining('SLIPWAY_WEBHOOK_SECRET')] });
  });

  it('reads named registries from SLIPWAY_REGISTRY_<NAME>_* and masks their passwords', () => {
    const r = readConfig({
      ...base,
      SLIPWAY_REGISTRY_USERNAME: 'robot$ci',
      SLIPWAY_REGISTRY_PASSWORD: 'push-password',
      SLIPWAY_REGISTRY_PROD_HOST: 'harbor.example.com',
      SLIPWAY_REGISTRY_PROD_USERNAME: 'robot$prod',
      SLIPWAY_REGISTRY_PROD_PASSWORD: 'prod-registry-password',
      SLIPWAY_REGISTRY_PROD_EU_HOST: 'harbor-eu.example.com:8443',
      SLIPWAY_REGISTRY_PROD_EU_PROJECT: 'release',
      SLIPWAY_REGISTRY_PROD_EU_PROMOTE: 'false',
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.registries).toEqual({
      prod: { name: 'prod', host: 'harbor.example.com', username: 'robot$prod', password: 'prod-registry-password', project: undefined, promote: true },
      prod_eu: { name: 'prod_eu', host: 'harbor-eu.example.com:8443', username: undefined, password: undefined, project: 'release', promote: false },
    });
    expect(r.config.registry).toEqual({ host: '127.0.0.1:5050', username: 'robot$ci', password: 'push-password' });
    expect(r.config.promotion).toEqual({ attempts: 3, backoffMs: 5_000, timeoutMs: 900_000 });
    expect(secretsOf(r.config)).toContain('prod-registry-password');
  });

  it('reports every registry problem at once, never a value', () => {
    const r = readConfig({
      ...base,
      SLIPWAY_REGISTRY_A_HOST: 'https://robot:s3cret-value@harbor.example.com',
      SLIPWAY_REGISTRY_B_HOST: 'harbor.example.com',
      SLIPWAY_REGISTRY_B_PASSWORD: 'only-a-password',
      SLIPWAY_REGISTRY_B_PROMOTE: 'maybe',
      SLIPWAY_REGISTRY_C_USERNAME: 'robot',
      SLIPWAY_REGISTRY_D_HOTS: 'typo.example.com',
      SLIPWAY_REGISTRY_E_HOST: 'h.example.com',
      SLIPWAY_REGISTRY_E_PROJECT: 'Prod/App',
      SLIPWAY_PROMOTE_ATTEMPTS: '0',
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([
      'SLIPWAY_PROMOTE_ATTEMPTS must be at least 1',
      'SLIPWAY_REGISTRY_D_HOTS is not a registry setting: use SLIPWAY_REGISTRY_<NAME>_HOST, _USERNAME, _PASSWORD, _PROJECT, _PROMOTE',
      'SLIPWAY_REGISTRY_A_HOST must be host[:port] (no scheme, path or credentials)',
      'SLIPWAY_REGISTRY_B_USERNAME and SLIPWAY_REGISTRY_B_PASSWORD must be set together',
      'SLIPWAY_REGISTRY_B_PROMOTE must be true or false',
      "SLIPWAY_REGISTRY_C_HOST is required (the registry's host[:port], as in an image name)",
      'SLIPWAY_REGISTRY_C_USERNAME and SLIPWAY_REGISTRY_C_PASSWORD must be set together',
      'SLIPWAY_REGISTRY_E_PROJECT must be a Harbor project name: lowercase letters, digits and . _ - between them',
    ]);
    expect(r.problems.join('\n')).not.toContain('s3cret-value');
  });

  it('reads notification channels from SLIPWAY_NOTIFY_<NAME>_* and masks their tokens', () => {
    const r = readConfig({
      ...base,
      SLIPWAY_NOTIFY_TEAM_A_URL: 'https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789',
      SLIPWAY_NOTIFY_TEAM_A_FORMAT: 'dingtalk',
      SLIPWAY_NOTIFY_TEAM_A_SECRET: 'SEC0123456789',
      SLIPWAY_NOTIFY_OPS_URL: 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX',
      SLIPWAY_NOTIFY_OPS_FORMAT: 'slack',
      SLIPWAY_NOTIFY_OPS_EVENTS: 'pipeline-failed, deployed',
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config.notify.channels).toEqual([
      {
        name: 'ops',
        url: 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX',
        format: 'slack',
        events: ['pipeline-failed', 'deployed'],
        signSecret: undefined,
      },
      {
        name: 'team_a',
        url: 'https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789',
        format: 'dingtalk',
        events: ['pipeline-failed', 'approval-requested', 'deployed', 'rolled-back', 'analysis-aborted'],
        signSecret: 'SEC0123456789',
      },
    ]);
    const secrets = secretsOf(r.config);
    for (const s of ['abcdef0123456789', 'XXXXXXXXXXXXXXXXXXXXXXXX', 'SEC0123456789']) expect(secrets).toContain(s);
  });

  it('reports every notification problem at once, with the other problems, never a value', () => {
    const r = readConfig({
      GITLAB_URL: 'not a url',
      GITLAB_TOKEN: 'glpat-secret-value',
      SLIPWAY_WEBHOOK_SECRET: 'hook-secret',
      SLIPWAY_NOTIFY_A_URL: 'ftp://leaky-token-value',
      SLIPWAY_NOTIFY_A_FORMAT: 'teams',
      SLIPWAY_NOTIFY_B_URL: 'https://example.com/hook',
      SLIPWAY_NOTIFY_B_FORMAT: 'slack',
      SLIPWAY_NOTIFY_B_EVENTS: 'deployed,exploded',
      SLIPWAY_NOTIFY_B_SECRET: 'secret-for-slack',
      SLIPWAY_NOTIFY_C_FORMAT: 'json',
      SLIPWAY_NOTIFY_D_CHANNEL: '#general',
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([
      expect.stringContaining('GITLAB_URL'),
      expect.stringContaining('SLIPWAY_NOTIFY_D_CHANNEL is not a notification setting'),
      'SLIPWAY_NOTIFY_A_URL must be an absolute http(s) URL',
      'SLIPWAY_NOTIFY_A_FORMAT must be one of slack, dingtalk, wecom, json',
      "SLIPWAY_NOTIFY_B_EVENTS: unknown event 'exploded' (known: all, pipeline-failed, approval-requested, deployed, rolled-back, analysis-aborted)",
      'SLIPWAY_NOTIFY_B_SECRET is only for format dingtalk (its signed requests)',
      "SLIPWAY_NOTIFY_C_URL is required (the channel's incoming webhook URL)",
    ]);
    expect(r.problems.join('\n')).not.toContain('leaky-token-value');
  });
});

describe('SLIPWAY_IMAGE_PUSH', () => {
  it("is Slipway's own push by default, the engine's when asked for, and refuses anything else by name", () => {
    const def = readConfig(base);
    expect(def.ok && def.config.imagePush).toBe('slipway');
    const engine = readConfig({ ...base, SLIPWAY_IMAGE_PUSH: 'engine' });
    expect(engine.ok && engine.config.imagePush).toBe('engine');
    const bad = readConfig({ ...base, SLIPWAY_IMAGE_PUSH: 'kaniko' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.problems.join('\n')).toMatch(/SLIPWAY_IMAGE_PUSH must be slipway or engine/);
  });
});
