import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { readConfig } from '../config/config.js';
import { packageRoot } from '../config/paths.js';
import { startSlipway } from '../slipway.js';
import { installShutdown } from '../shutdown.js';
import { startFakeGitlab } from '../standins/gitlab/gitlab-server.js';
import { commitFiles } from '../standins/gitlab/git-repo.js';
import { followRun } from './follow-run.js';
import { sampleServiceFiles } from './sample-service.js';

const PROJECT = { id: 1001, pathWithNamespace: 'demo/hello-service' };

/**
 * `slipway demo`: a real merge event flowing to a running service. GitLab itself cannot run here,
 * so the in-repo GitLab stand-in (src/standins/gitlab/gitlab-server.ts: real API shapes, real git over HTTP)
 * plays its part; Redis (embedded), the Docker engine, the registry and git are the real ones.
 */
export async function runDemo(opts: { keepRunning: boolean }): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say('== Slipway demo: a GitLab merge becomes a running service');
  say('-- starting the Docker engine and the registry (.ci/services.sh; installs Debian packages when missing)');
  execFileSync('bash', [path.join(packageRoot(), '.ci', 'services.sh'), 'start', 'docker', 'registry'], { stdio: 'inherit' });

  const gitlab = await startFakeGitlab();
  const project = await gitlab.addProject({ ...PROJECT, defaultBranch: 'main' });
  // Someone to sign in to the web UI as: a Maintainer of the demo project and an administrator of the stand-in.
  const viewer = gitlab.addUser({ id: 9001, username: 'demo', name: 'Demo Ops', admin: true });
  gitlab.setMember(PROJECT.id, viewer.user.id, 40);
  await commitFiles(project.bareDir, 'main', { 'README.md': '# hello-service\n' }, 'Initial commit');
  const sha = await commitFiles(project.bareDir, 'main', sampleServiceFiles(), "Merge branch 'feature/greeting' into 'main'");
  say(`-- GitLab stand-in at ${gitlab.url}: project ${PROJECT.pathWithNamespace}, merge commit ${sha.slice(0, 8)}`);

  const webhookSecret = randomBytes(16).toString('hex');
  const config = readConfig({
    ...process.env,
    GITLAB_URL: gitlab.url,
    GITLAB_TOKEN: gitlab.token,
    SLIPWAY_WEBHOOK_SECRET: webhookSecret,
    SLIPWAY_DATA_DIR: process.env['SLIPWAY_DATA_DIR'] ?? path.join(packageRoot(), '.slipway', 'demo'),
    SLIPWAY_PORT: process.env['SLIPWAY_PORT'] ?? '0',
    SLIPWAY_LOG_LEVEL: process.env['SLIPWAY_LOG_LEVEL'] ?? 'warn',
  });
  if (!config.ok) throw new Error(config.problems.join('; '));
  const slipway = await startSlipway(config.config);
  say(`-- Slipway listening at ${slipway.url ?? '?'} (embedded Redis under ${config.config.dataDir})`);

  const event = mergeHookBody(sha, gitlab.url);
  const res = await fetch(`${slipway.url ?? ''}/webhooks/gitlab`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'User-Agent': 'GitLab/18.5.0',
      'X-Gitlab-Event': 'Merge Request Hook',
      'X-Gitlab-Token': webhookSecret,
      'X-Gitlab-Instance': gitlab.url,
      'X-Gitlab-Webhook-UUID': randomUUID(),
      'X-Gitlab-Event-UUID': randomUUID(),
      'Idempotency-Key': randomUUID(),
    },
    body: JSON.stringify(event),
  });
  const answer = (await res.json()) as { runId?: string };
  say(`-- POST /webhooks/gitlab (Merge Request Hook, action merge) → ${res.status} ${JSON.stringify(answer)}`);
  if (!answer.runId) throw new Error('the webhook was not accepted');

  const run = await followRun(slipway.store, answer.runId, say);
  let code = run.status.phase === 'succeeded' ? 0 : 1;
  const pre = run.deployments.find((d) => d.environment === 'pre');
  say('');
  if (pre) {
    const page = await fetch(pre.url)
      .then((r) => r.text())
      .catch((e: unknown) => `unreachable: ${String(e)}`);
    const heading = /<h1>(.*)<\/h1>/.exec(page)?.[1] ?? page.slice(0, 80);
    say(`GET ${pre.url} → "${heading}"`);
    if (!heading.includes('Hello')) code = 1;
  }
  // The API token is a secret: the demo names the file that holds it, never prints it.
  say(`Run:      ${slipway.url ?? ''}/runs/${run.id}  (sign in with the stand-in GitLab's token ${viewer.token})`);
  say(`API:      ${slipway.url ?? ''}/api/runs/${run.id}  (Authorization: Bearer <the API token in ${slipway.apiTokenFile ?? 'SLIPWAY_API_TOKEN'}>)`);
  say(`Result:   ${run.status.phase} — ${run.status.reason}`);
  if (run.image) say(`Image:    ${run.image.ref}`);
  if (pre) say(`Service:  ${pre.url}  (container slipway-svc-hello-service-pre-*, keeps running after the demo)`);
  say(
    `GitLab saw: ${gitlab
      .statuses(PROJECT.id, sha)
      .map((s) => `${s.name}=${s.status}`)
      .join(', ')}`,
  );

  const stop = async () => {
    await slipway.stop();
    await gitlab.close();
  };
  if (opts.keepRunning) {
    say('\nSlipway keeps running so the run page works; press Ctrl-C to stop.');
    installShutdown(slipway.logger, stop);
    return new Promise<number>(() => undefined);
  }
  await stop();
  return code;
}

/** GitLab's real Merge Request Hook (action merge), as in shared/fixtures/gitlab/merge-request-hook-merge.json. */
function mergeHookBody(sha: string, gitlabUrl: string): Record<string, unknown> {
  const web = `${gitlabUrl}/${PROJECT.pathWithNamespace}`;
  const project = {
    id: PROJECT.id,
    name: 'hello-service',
    web_url: web,
    git_http_url: `${web}.git`,
    namespace: 'demo',
    path_with_namespace: PROJECT.pathWithNamespace,
    default_branch: 'main',
    visibility_level: 0,
  };
  return {
    object_kind: 'merge_request',
    event_type: 'merge_request',
    user: { id: 1, name: 'Demo Developer', username: 'demo', avatar_url: null },
    project,
    object_attributes: {
      id: 90001,
      iid: 7,
      title: 'Add a greeting page',
      state: 'merged',
      action: 'merge',
      source_branch: 'feature/greeting',
      target_branch: 'main',
      source_project_id: PROJECT.id,
      target_project_id: PROJECT.id,
      merge_commit_sha: sha,
      merge_status: 'can_be_merged',
      url: `${web}/-/merge_requests/7`,
      source: project,
      target: project,
      last_commit: {
        id: sha,
        message: 'Add a greeting page\n',
        timestamp: new Date().toISOString(),
        url: `${web}/-/commit/${sha}`,
        author: { name: 'Demo Developer', email: 'demo@example.com' },
      },
    },
    labels: [],
    changes: { state: { previous: 'locked', current: 'merged' } },
    repository: { name: 'hello-service', url: `${web}.git`, homepage: web },
  };
}
