/*
 * A fake SonarQube for tests: the Web API calls the quality gate step makes, on 127.0.0.1 (random port).
 *
 * Shapes follow SonarQube's Web API docs (served by every instance at /web_api; next.sonarqube.com/sonarqube/web_api):
 *  - GET api/ce/task?id= (since 5.2): {"task":{"id","type":"REPORT","componentKey","status":
 *    "PENDING"|"IN_PROGRESS"|"SUCCESS"|"FAILED"|"CANCELED","analysisId","errorMessage",…}}; 404 for an unknown id
 *  - GET api/qualitygates/project_status?analysisId= (since 5.3): {"projectStatus":{"status":
 *    "OK"|"WARN"|"ERROR"|"NONE","conditions":[{"status","metricKey","comparator","errorThreshold","actualValue"}],…}}
 *  - errors: {"errors":[{"msg":"…"}]}; authentication (docs "Web API" → "Authentication"): a user token as the
 *    Basic user with an empty password, or "Authorization: Bearer <token>" (10.0+); 401 without a valid one.
 * A task walks through the statuses it was given, one per api/ce/task call. Unknown calls answer 404 and are
 * listed by unexpectedCalls().
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SonarCall {
  path: string;
  query: string;
  authorization: string | undefined;
  status: number;
}

export interface FakeSonarTask {
  /** Statuses returned by successive api/ce/task calls; the last one repeats. */
  statuses: Array<'PENDING' | 'IN_PROGRESS' | 'SUCCESS' | 'FAILED' | 'CANCELED'>;
  analysisId?: string;
  errorMessage?: string;
  gate?: { status: 'OK' | 'WARN' | 'ERROR' | 'NONE'; conditions?: Array<Record<string, string>> };
}

export interface FakeSonar {
  url: string;
  token: string;
  calls: SonarCall[];
  unexpectedCalls(): SonarCall[];
  addTask(id: string, task: FakeSonarTask): void;
  failNext(path: string, status: number, times?: number): void;
  close(): Promise<void>;
}

export async function startFakeSonar(opts: { token?: string } = {}): Promise<FakeSonar> {
  const token = opts.token ?? 'squ_fake0123456789';
  const tasks = new Map<string, FakeSonarTask & { polls: number }>();
  const calls: SonarCall[] = [];
  const unexpected: SonarCall[] = [];
  const faults: Array<{ path: string; status: number; times: number }> = [];

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const call: SonarCall = { path: url.pathname, query: url.search, authorization: req.headers.authorization, status: 0 };
    calls.push(call);
    const send = (status: number, body: unknown): void => {
      call.status = status;
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    const fault = faults.find((f) => f.path === url.pathname && f.times > 0);
    if (fault) {
      fault.times--;
      return send(fault.status, { errors: [{ msg: 'injected fault' }] });
    }
    const okAuth = [`Basic ${Buffer.from(`${token}:`).toString('base64')}`, `Bearer ${token}`];
    if (!okAuth.includes(req.headers.authorization ?? '')) return send(401, { errors: [{ msg: 'Authentication is required' }] });
    if (req.method === 'GET' && url.pathname === '/api/ce/task') {
      const id = url.searchParams.get('id') ?? '';
      const t = tasks.get(id);
      if (!t) return send(404, { errors: [{ msg: `No activity found for task '${id}'` }] });
      const status = t.statuses[Math.min(t.polls++, t.statuses.length - 1)];
      return send(200, {
        task: {
          id,
          type: 'REPORT',
          componentKey: 'app',
          status,
          ...(status === 'SUCCESS' && t.analysisId ? { analysisId: t.analysisId } : {}),
          ...(status === 'FAILED' && t.errorMessage ? { errorMessage: t.errorMessage } : {}),
          submittedAt: '2024-01-01T00:00:00+0000',
        },
      });
    }
    if (req.method === 'GET' && url.pathname === '/api/qualitygates/project_status') {
      const analysisId = url.searchParams.get('analysisId');
      const t = [...tasks.values()].find((x) => x.analysisId === analysisId);
      if (!t?.gate) return send(404, { errors: [{ msg: `Analysis with id '${analysisId}' is not found` }] });
      return send(200, { projectStatus: { status: t.gate.status, conditions: t.gate.conditions ?? [], periods: [], ignoredConditions: false } });
    }
    unexpected.push(call);
    send(404, { errors: [{ msg: 'Unknown url' }] });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    token,
    calls,
    unexpectedCalls: () => [...unexpected],
    addTask: (id, task) => void tasks.set(id, { ...task, polls: 0 }),
    failNext: (path, status, times = 1) => void faults.push({ path, status, times }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
