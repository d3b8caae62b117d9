import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HarborClient } from '../../../src/registry/harbor-client.js';
import { RegistryError } from '../../../src/registry/errors.js';
import { startFakeHarbor, type FakeHarbor } from '../../../src/standins/harbor/harbor-server.js';

let harbor: FakeHarbor;
let client: HarborClient;
const auth = { username: 'robot$ci+push', password: 'robot-secret' };
const fast = { retries: 2, baseMs: 1, maxMs: 2 };

beforeEach(async () => {
  harbor = await startFakeHarbor();
  client = new HarborClient({ url: harbor.url, auth, backoff: fast });
});

afterEach(async () => {
  expect(harbor.unexpectedCalls()).toEqual([]);
  await harbor.close();
});

describe('HarborClient (against the fake Harbor API v2.0)', () => {
  it('creates a missing project, private unless asked, and leaves an existing one alone', async () => {
    expect(await client.ensureProject('team-a')).toEqual({ created: true });
    expect(await client.ensureProject('team-a')).toEqual({ created: false });
    expect(harbor.projects()).toEqual([{ name: 'team-a', public: false }]);
    expect(harbor.calls.map((c) => `${c.method} ${c.path}${c.query} ${c.status}`)).toEqual([
      'HEAD /api/v2.0/projects?project_name=team-a 404',
      'POST /api/v2.0/projects 201',
      'HEAD /api/v2.0/projects?project_name=team-a 200',
    ]);
    expect(harbor.calls[1]?.body).toEqual({ project_name: 'team-a', metadata: { public: 'false' } });
  });

  it('treats losing the creation race to another build (409) as success', async () => {
    harbor.failNext('HEAD', '/api/v2.0/projects', 404); // our HEAD says missing, then someone else creates it
    harbor.addProject('team-b');
    expect(await client.ensureProject('team-b', { public: true })).toEqual({ created: false });
    expect(harbor.calls.at(-1)?.status).toBe(409);
  });

  it('says the robot lacks the right to create projects instead of retrying', async () => {
    harbor.canCreateProjects = false;
    const err = (await client.ensureProject('team-c').catch((e: unknown) => e)) as RegistryError;
    expect(err).toBeInstanceOf(RegistryError);
    expect(err.message).toBe(`registry ${new URL(harbor.url).host}: Harbor POST /projects answered 403: FORBIDDEN: forbidden`);
    expect(err.retryable).toBe(false);
  });

  it('retries a 5xx from Harbor and then succeeds', async () => {
    harbor.failNext('HEAD', '/api/v2.0/projects', 502, 2);
    harbor.addProject('team-d');
    expect(await client.projectExists('team-d')).toBe(true);
    expect(harbor.calls.map((c) => c.status)).toEqual([502, 502, 200]);
  });

  it('refuses to overwrite an existing tag that an immutability rule covers, and says which rule', async () => {
    harbor.addProject('rel', { rules: [{ id: 7, tagPattern: '{v*,[0-9]*}', repoPattern: 'svc/**' }] });
    harbor.addArtifact('rel', 'svc/api', '1.2.3');
    harbor.addArtifact('rel', 'svc/api', 'main');
    harbor.addArtifact('rel', 'other', '1.2.3');
    expect(await client.checkTagWritable({ project: 'rel', repository: 'svc/api', tag: '1.2.3' })).toEqual({
      writable: false,
      ruleId: 7,
      reason: 'tag rel/svc/api:1.2.3 already exists and is immutable (Harbor rule 7: matches {v*,[0-9]*})',
    });
    // Not covered by the tag selector, the repository scope, or not existing yet: may be pushed.
    expect(await client.checkTagWritable({ project: 'rel', repository: 'svc/api', tag: 'main' })).toEqual({ writable: true, exists: true });
    expect(await client.checkTagWritable({ project: 'rel', repository: 'other', tag: '1.2.3' })).toEqual({ writable: true, exists: true });
    expect(await client.checkTagWritable({ project: 'rel', repository: 'svc/api', tag: '1.2.4' })).toEqual({ writable: true, exists: false });
    const artifactCall = harbor.calls.find((c) => c.path.includes('/artifacts/'));
    expect(artifactCall?.path).toBe('/api/v2.0/projects/rel/repositories/svc%252Fapi/artifacts/1.2.3');
    expect(artifactCall?.headers['x-is-resource-name']).toBe('true');
  });

  it('ignores disabled and excluding rules', async () => {
    harbor.addProject('p', {
      rules: [
        { disabled: true, tagPattern: '**' },
        { tagPattern: 'dev-*', tagDecoration: 'excludes' },
      ],
    });
    harbor.addArtifact('p', 'app', 'dev-1');
    harbor.addArtifact('p', 'app', '2.0.0');
    expect(await client.checkTagWritable({ project: 'p', repository: 'app', tag: 'dev-1' })).toEqual({ writable: true, exists: true });
    expect(await client.checkTagWritable({ project: 'p', repository: 'app', tag: '2.0.0' })).toMatchObject({ writable: false, ruleId: 2 });
  });

  it('fails with 401 on wrong robot credentials', async () => {
    const wrong = new HarborClient({ url: harbor.url, auth: { ...auth, password: 'nope' }, backoff: fast });
    await expect(wrong.projectExists('x')).rejects.toThrow(/Harbor HEAD \/projects answered 401/);
  });

  it('rejects project names Harbor would not accept before calling it', async () => {
    await expect(client.ensureProject('Team A')).rejects.toThrow('invalid Harbor project name "Team A"');
    expect(harbor.calls).toEqual([]);
  });
});
