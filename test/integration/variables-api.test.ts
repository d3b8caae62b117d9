import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VariableView } from '../../src/variables/variable-store.js';
import { startHarness, type Harness } from '../helpers/slipway-harness.js';

// The variables API on a running Slipway: what an operator sees when setting secrets.
describe('variables API', () => {
  let h: Harness;
  const project = 4200;
  const secret = 'pa55-w0rd-never-shown';

  const call = async (method: string, path: string, body?: unknown, token: string | null = h.slipway.apiToken) => {
    const res = await fetch(`${h.url}${path}`, {
      method,
      headers: { ...(token === null ? {} : { Authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> | undefined };
  };
  const vars = `/api/projects/${project}/variables`;

  beforeAll(async () => {
    h = await startHarness({ roles: ['http'] });
  });
  afterAll(async () => h.stop());

  it('needs the API token for every method', async () => {
    for (const [method, path, body] of [
      ['GET', vars],
      ['PUT', `${vars}/X`, { value: 'y' }],
      ['DELETE', `${vars}/X`],
    ] as const) {
      const res = await call(method, path, body, null);
      expect(res.status).toBe(401);
      expect(res.body?.['error']).toMatch(/bearer token/);
    }
    expect((await call('GET', vars, undefined, 'not-the-token')).status).toBe(401);
  });

  it('PUT sets (and re-sets) a variable; GET lists them with masked values as null', async () => {
    const put = await call('PUT', `${vars}/DB_PASSWORD`, { value: secret, masked: true, protected: true });
    expect(put).toMatchObject({ status: 200, body: { name: 'DB_PASSWORD', environment: '*', masked: true, protected: true, value: null } });
    expect(put.text).not.toContain(secret);
    expect((await call('PUT', `${vars}/REGION`, { value: 'eu-west' })).body).toEqual({
      name: 'REGION',
      environment: '*',
      masked: false,
      protected: false,
      value: 'eu-west',
    });
    expect((await call('PUT', `${vars}/REGION`, { value: 'cn-north', environment: 'production' })).status).toBe(200);
    expect((await call('PUT', `${vars}/REGION`, { value: 'eu-central' })).status).toBe(200); // upsert

    const list = await call('GET', vars);
    expect(list.status).toBe(200);
    expect(list.body?.['variables'] as VariableView[]).toEqual([
      { name: 'DB_PASSWORD', environment: '*', masked: true, protected: true, value: null },
      { name: 'REGION', environment: '*', masked: false, protected: false, value: 'eu-central' },
      { name: 'REGION', environment: 'production', masked: false, protected: false, value: 'cn-north' },
    ]);
    expect(list.text).not.toContain(secret);
    expect((await call('GET', '/api/projects/4201/variables')).body).toEqual({ variables: [] });
    // The audit log names the variable, never the value.
    expect(h.logs.some((l) => l.includes('"variable":"DB_PASSWORD"') && l.includes('variable set'))).toBe(true);
    expect(h.logs.join('\n')).not.toContain(secret);
  });

  it('DELETE removes one scope; a second DELETE is 404 with the reason', async () => {
    expect((await call('DELETE', `${vars}/REGION?environment=production`)).status).toBe(204);
    expect(await call('DELETE', `${vars}/REGION?environment=production`)).toMatchObject({
      status: 404,
      body: { error: `no variable REGION for environment production in project ${project}` },
    });
    expect((await call('DELETE', `${vars}/REGION`)).status).toBe(204); // default scope '*'
    expect((((await call('GET', vars)).body?.['variables'] ?? []) as VariableView[]).map((v) => v.name)).toEqual(['DB_PASSWORD']);
  });

  it('rejects invalid requests with a 400 that says what is wrong', async () => {
    const cases: Array<[string, string, unknown, string | RegExp]> = [
      ['PUT', `${vars}/1BAD`, { value: 'x' }, 'name: letters, digits and _, not starting with a digit'],
      ['PUT', `${vars}/SHORT`, { value: 'abc', masked: true }, 'value: a masked value needs at least 8 characters'],
      ['PUT', `${vars}/SCOPED`, { value: 'x', environment: 'Pre Prod' }, "environment: '*' or an environment name"],
      ['PUT', `${vars}/NOVALUE`, { masked: true }, /^value: /],
      ['PUT', `${vars}/TYPO`, { value: 'x', maskd: true }, /^body: .*maskd/],
      ['PUT', `${vars}/WRONG_TYPE`, { value: 'x', protected: 'yes' }, /^protected: /],
      ['PUT', `${vars}/BROKEN`, '{"value": ', /^the body is not valid JSON: /],
      ['PUT', '/api/projects/shop/variables/X', { value: 'x' }, 'project id must be numeric'],
      ['GET', '/api/projects/shop/variables', undefined, 'project id must be numeric'],
      ['DELETE', '/api/projects/shop/variables/X', undefined, 'project id must be numeric'],
    ];
    for (const [method, path, body, error] of cases) {
      const res = await call(method, path, body);
      expect({ path, body, status: res.status }).toEqual({ path, body, status: 400 });
      if (typeof error === 'string') expect(res.body?.['error']).toBe(error);
      else expect(res.body?.['error']).toMatch(error);
    }
    expect((((await call('GET', vars)).body?.['variables'] ?? []) as VariableView[]).map((v) => v.name)).toEqual(['DB_PASSWORD']);
  });
});
