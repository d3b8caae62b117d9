import { fetchFailure, secret } from './server-client.js';

// `slipway approve` / `slipway reject` exit codes; 2 (bad usage) is every command's.
const EXIT_DECIDED = 0;
const EXIT_REFUSED = 1;
const EXIT_USAGE = 2;
const EXIT_UNREACHABLE = 3;

export interface ServerOptions {
  url?: string;
  tokenFile?: string;
  gitlabTokenFile?: string;
  json?: boolean;
  reason?: string;
}

const TIMEOUT_MS = 60_000;

interface Answer {
  decision?: 'approved' | 'rejected';
  started?: boolean;
  approvedBy?: string[];
  required?: number;
  job?: { name: string; status: { phase: string; reason: string } };
  error?: string;
  rule?: string;
}

/**
 * Sends one decision to a Slipway server. Tokens come from the environment (SLIPWAY_TOKEN,
 * SLIPWAY_GITLAB_TOKEN) or from files named by flags, never from argv, where every user of the
 * machine could read them (ps). The server asks GitLab who owns the GitLab token: that person decides.
 */
export async function decideCommand(
  action: 'approve' | 'reject',
  runId: string,
  job: string,
  opts: ServerOptions,
  env: NodeJS.ProcessEnv,
  out: (l: string) => void,
  err: (l: string) => void,
): Promise<number> {
  const url = (opts.url ?? env['SLIPWAY_URL'] ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s]+$/.test(url)) {
    err(`slipway ${action}: the Slipway server is unknown: pass --url or set SLIPWAY_URL (http://host:port)`);
    return EXIT_USAGE;
  }
  let apiToken: string;
  let gitlabToken: string;
  try {
    apiToken = await secret(opts.tokenFile, env['SLIPWAY_TOKEN'], '--token-file', 'SLIPWAY_TOKEN', "Slipway's API token");
    gitlabToken = await secret(
      opts.gitlabTokenFile,
      env['SLIPWAY_GITLAB_TOKEN'],
      '--gitlab-token-file',
      'SLIPWAY_GITLAB_TOKEN',
      'your GitLab personal access token (it says who approves)',
    );
  } catch (e) {
    err(`slipway ${action}: ${e instanceof Error ? e.message : String(e)}`);
    return EXIT_USAGE;
  }
  if (action === 'reject' && !opts.reason?.trim()) {
    err('slipway reject: --reason is required: say why the step must not run');
    return EXIT_USAGE;
  }

  let status: number;
  let body: Answer;
  try {
    const res = await fetch(`${url}/api/runs/${encodeURIComponent(runId)}/jobs/${encodeURIComponent(job)}/${action}`, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${apiToken}`,
        'X-Gitlab-Approver-Token': gitlabToken,
        'X-Slipway-Source': 'cli',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify(action === 'reject' ? { reason: opts.reason } : {}),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    status = res.status;
    body = (await res.json().catch(() => ({ error: `HTTP ${res.status} without a JSON body` }))) as Answer;
  } catch (e) {
    err(`slipway ${action}: could not reach ${url}: ${fetchFailure(e)}`);
    return EXIT_UNREACHABLE;
  }

  if (opts.json) out(JSON.stringify({ status, ...body }));
  if (status === 200) {
    if (!opts.json) out(describe(runId, job, body));
    return EXIT_DECIDED;
  }
  if (!opts.json) err(`slipway ${action}: ${body.error ?? `HTTP ${status}`}${body.rule ? `\nrule: ${body.rule}` : ''}`);
  // Refused by the rule or the step's state: the caller's answer. The rest: the decision could not be made.
  return status === 400 || status === 403 || status === 404 || status === 409 ? EXIT_REFUSED : EXIT_UNREACHABLE;
}

function describe(runId: string, job: string, a: Answer): string {
  if (a.decision === 'rejected') return `rejected ${job} of run ${runId}: ${a.job?.status.reason ?? ''}`;
  const by = (a.approvedBy ?? []).map((u) => `@${u}`).join(', ');
  return a.started
    ? `approved ${job} of run ${runId}: it starts now (approved by ${by})`
    : `approved ${job} of run ${runId}: ${a.job?.status.reason ?? `${a.approvedBy?.length ?? 0} of ${a.required ?? '?'} approvals`}`;
}
