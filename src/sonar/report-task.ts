import { readFile } from 'node:fs/promises';

export interface ReportTask {
  projectKey: string;
  serverUrl: string;
  dashboardUrl: string;
  ceTaskId: string;
  ceTaskUrl?: string;
}

/**
 * The scanner's report-task.txt (.scannerwork/ for the CLI, target/sonar/ for
 * Maven, build/sonar/ for Gradle): key=value lines, Java-properties style
 * (`#` comments, backslash escapes such as `\:`).
 */
export function parseReportTask(text: string, source = 'report-task.txt'): ReportTask {
  const props: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('!')) continue;
    const m = /^((?:\\.|[^=:\\])+)\s*[=:]\s*(.*)$/.exec(line);
    if (m) props[unescape(m[1] ?? '').trim()] = unescape(m[2] ?? '');
  }
  const missing = ['projectKey', 'serverUrl', 'dashboardUrl', 'ceTaskId'].filter((k) => !props[k]);
  if (missing.length) throw new Error(`${source}: missing ${missing.join(', ')} (did the scanner finish?)`);
  if (!/^[A-Za-z0-9_-]+$/.test(props['ceTaskId'] ?? '')) throw new Error(`${source}: invalid ceTaskId ${JSON.stringify(props['ceTaskId'])}`);
  return {
    projectKey: props['projectKey'] ?? '',
    serverUrl: props['serverUrl'] ?? '',
    dashboardUrl: props['dashboardUrl'] ?? '',
    ceTaskId: props['ceTaskId'] ?? '',
    ...(props['ceTaskUrl'] ? { ceTaskUrl: props['ceTaskUrl'] } : {}),
  };
}

export async function readReportTask(path: string): Promise<ReportTask> {
  return parseReportTask(await readFile(path, 'utf8'), path);
}

function unescape(s: string): string {
  return s.replace(/\\(u[0-9A-Fa-f]{4}|.)/g, (_, c: string) =>
    c.length === 5 ? String.fromCharCode(parseInt(c.slice(1), 16)) : (({ t: '\t', n: '\n', r: '\r', f: '\f' } as Record<string, string>)[c] ?? c),
  );
}
