import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gateVerdict, waitForQualityGate } from '../../../src/sonar/quality-gate.js';
import { parseReportTask, type ReportTask } from '../../../src/sonar/report-task.js';
import type { SonarError } from '../../../src/sonar/sonar-client.js';
import { startFakeSonar, type FakeSonar } from '../../../src/standins/sonar/sonar-server.js';

let sonar: FakeSonar;
let report: ReportTask;
const fast = { pollMs: 5, maxPollMs: 20 };

beforeEach(async () => {
  sonar = await startFakeSonar();
  report = { projectKey: 'app', serverUrl: sonar.url, dashboardUrl: `${sonar.url}/dashboard?id=app`, ceTaskId: 'AYtask1' };
});
afterEach(async () => {
  expect(sonar.unexpectedCalls()).toEqual([]);
  await sonar.close();
});

const breached = [{ status: 'ERROR', metricKey: 'new_coverage', comparator: 'LT', errorThreshold: '80', actualValue: '61.5' }];

describe('parseReportTask', () => {
  it('reads what the scanner writes, escapes included', () => {
    const text =
      '# written by the scanner\nprojectKey=app\nserverUrl=http\\://sonar\\:9000\nserverVersion=10.4\ndashboardUrl=http://sonar:9000/dashboard?id=app\nceTaskId=AYx_1-2\nceTaskUrl=http://sonar:9000/api/ce/task?id=AYx_1-2\n';
    expect(parseReportTask(text)).toEqual({
      projectKey: 'app',
      serverUrl: 'http://sonar:9000',
      dashboardUrl: 'http://sonar:9000/dashboard?id=app',
      ceTaskId: 'AYx_1-2',
      ceTaskUrl: 'http://sonar:9000/api/ce/task?id=AYx_1-2',
    });
  });

  it('says what is missing from a partial file', () => {
    expect(() => parseReportTask('projectKey=app\n', '.scannerwork/report-task.txt')).toThrow(
      '.scannerwork/report-task.txt: missing serverUrl, dashboardUrl, ceTaskId',
    );
  });
});

describe('waitForQualityGate (against the fake SonarQube Web API)', () => {
  it('polls until the task succeeds, then reads the gate of that analysis', async () => {
    sonar.addTask('AYtask1', {
      statuses: ['PENDING', 'IN_PROGRESS', 'IN_PROGRESS', 'SUCCESS'],
      analysisId: 'AYan1',
      gate: { status: 'ERROR', conditions: breached },
    });
    const logs: string[] = [];
    const gate = await waitForQualityGate(report, { client: { token: sonar.token }, deadlineMs: 5_000, ...fast, onLog: (l) => logs.push(l) });
    expect(gate).toEqual({ status: 'ERROR', conditions: breached, dashboardUrl: report.dashboardUrl, taskId: 'AYtask1', analysisId: 'AYan1' });
    expect(logs).toEqual(['sonar: analysis task AYtask1 is PENDING', 'sonar: analysis task AYtask1 is IN_PROGRESS', 'sonar: analysis task AYtask1 is SUCCESS']);
    expect(sonar.calls.map((c) => `${c.path}${c.query}`)).toEqual([
      ...Array(4).fill('/api/ce/task?id=AYtask1'),
      '/api/qualitygates/project_status?analysisId=AYan1',
    ]);
    expect(gateVerdict(gate, { advisory: false })).toEqual({
      outcome: 'fail',
      reason: `quality gate ERROR: new_coverage 61.5 (LT 80) — ${report.dashboardUrl}`,
    });
    expect(gateVerdict(gate, { advisory: true }).outcome).toBe('warn');
  });

  it('sends the token as Bearer when asked', async () => {
    sonar.addTask('AYtask1', { statuses: ['SUCCESS'], analysisId: 'AYan1', gate: { status: 'OK' } });
    const gate = await waitForQualityGate(report, { client: { token: sonar.token, authScheme: 'bearer' }, deadlineMs: 1_000, ...fast });
    expect(gateVerdict(gate, { advisory: false }).outcome).toBe('pass');
    expect(sonar.calls[0]?.authorization).toBe(`Bearer ${sonar.token}`);
  });

  it('fails with the server error message when the analysis task fails', async () => {
    sonar.addTask('AYtask1', { statuses: ['IN_PROGRESS', 'FAILED'], errorMessage: 'Unsupported language: cobol' });
    await expect(waitForQualityGate(report, { client: { token: sonar.token }, deadlineMs: 5_000, ...fast })).rejects.toThrow(
      'sonar: analysis task AYtask1 FAILED: Unsupported language: cobol',
    );
  });

  it('gives up at the deadline, saying where to look', async () => {
    sonar.addTask('AYtask1', { statuses: ['PENDING'] });
    const err = (await waitForQualityGate(report, { client: { token: sonar.token }, deadlineMs: 100, ...fast }).catch((e: unknown) => e)) as SonarError;
    expect(err.message).toBe(`sonar: analysis task AYtask1 still PENDING after 100 ms; see ${report.dashboardUrl}`);
    expect(err.retryable).toBe(true);
  });

  it('retries a 503 and fails at once on a rejected token', async () => {
    sonar.addTask('AYtask1', { statuses: ['SUCCESS'], analysisId: 'AYan1', gate: { status: 'OK' } });
    sonar.failNext('/api/ce/task', 503, 2);
    await expect(waitForQualityGate(report, { client: { token: sonar.token, backoffMs: 1 }, deadlineMs: 5_000, ...fast })).resolves.toMatchObject({
      status: 'OK',
    });
    const calls = sonar.calls.length;
    await expect(waitForQualityGate(report, { client: { token: 'wrong', backoffMs: 1 }, deadlineMs: 5_000, ...fast })).rejects.toThrow(
      `SonarQube ${sonar.url}: GET api/ce/task answered 401: Authentication is required`,
    );
    expect(sonar.calls.length).toBe(calls + 1);
  });
});
