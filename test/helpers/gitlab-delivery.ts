import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** Real GitLab payloads (test/fixtures/gitlab, copied from shared/fixtures/gitlab; see SOURCES.md there). */
export const FIXTURES_DIR = path.resolve(import.meta.dirname, '../fixtures/gitlab');

export function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(FIXTURES_DIR, name), 'utf8')) as Record<string, unknown>;
}

/** The headers GitLab sends with a delivery (webhook_events.md, web_hook_service.rb). */
export function gitlabHeaders(event: string, token: string | undefined, opts: { idempotencyKey?: string | null } = {}): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': 'GitLab/18.5.0',
    'X-Gitlab-Event': event,
    'X-Gitlab-Webhook-UUID': randomUUID(),
    'X-Gitlab-Event-UUID': randomUUID(),
    'X-Gitlab-Instance': 'https://gitlab.example.com',
  };
  if (token !== undefined) headers['X-Gitlab-Token'] = token;
  if (opts.idempotencyKey !== null) headers['Idempotency-Key'] = opts.idempotencyKey ?? randomUUID();
  return headers;
}

export async function deliver(
  url: string,
  event: string,
  body: unknown,
  token: string | undefined,
  opts: { idempotencyKey?: string | null; headers?: Record<string, string> } = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/webhooks/gitlab`, {
    method: 'POST',
    headers: { ...gitlabHeaders(event, token, opts), ...opts.headers },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A merge event in GitLab's real shape (the captured fixture), pointed at one of our projects. */
export function mergeEvent(opts: {
  projectId: number;
  path: string;
  sha: string;
  iid?: number;
  sourceBranch?: string;
  targetBranch?: string;
  title?: string;
}): Record<string, unknown> {
  const body = fixture('merge-request-hook-merge.json') as { project: Record<string, unknown>; object_attributes: Record<string, unknown> };
  body.project = { ...body.project, id: opts.projectId, path_with_namespace: opts.path, default_branch: opts.targetBranch ?? 'main' };
  body.object_attributes = {
    ...body.object_attributes,
    iid: opts.iid ?? 1,
    source_project_id: opts.projectId,
    target_project_id: opts.projectId,
    source_branch: opts.sourceBranch ?? 'feature',
    target_branch: opts.targetBranch ?? 'main',
    merge_commit_sha: opts.sha,
    title: opts.title ?? 'Add greeting',
    last_commit: { ...(body.object_attributes['last_commit'] as object), id: opts.sha },
  };
  return body;
}

/** A push in GitLab's real shape (the captured fixture), pointed at one of our projects. */
export function pushEvent(opts: { projectId: number; path: string; sha: string; branch: string; before?: string }): Record<string, unknown> {
  const body = fixture('push-hook.json');
  return Object.assign(body, {
    ref: `refs/heads/${opts.branch}`,
    before: opts.before ?? '0'.repeat(40),
    after: opts.sha,
    checkout_sha: opts.sha,
    project: { ...(body['project'] as object), id: opts.projectId, path_with_namespace: opts.path, default_branch: 'main' },
  });
}

/**
 * A merge request opened (GitLab's captured `open` payload), pointed at one of our projects. With
 * `fromFork`, the source is another project (a fork): `source_project_id` ≠ `target_project_id`.
 */
export function openMergeRequestEvent(opts: {
  projectId: number;
  path: string;
  sha: string;
  iid: number;
  sourceBranch: string;
  targetBranch?: string;
  title?: string;
  fromFork?: { id: number; path: string };
}): Record<string, unknown> {
  const body = fixture('merge-request-hook-open.json') as { project: Record<string, unknown>; object_attributes: Record<string, unknown> };
  body.project = { ...body.project, id: opts.projectId, path_with_namespace: opts.path, default_branch: opts.targetBranch ?? 'main' };
  body.object_attributes = {
    ...body.object_attributes,
    action: 'open',
    iid: opts.iid,
    source_project_id: opts.fromFork?.id ?? opts.projectId,
    target_project_id: opts.projectId,
    source_branch: opts.sourceBranch,
    target_branch: opts.targetBranch ?? 'main',
    title: opts.title ?? 'Add greeting',
    last_commit: { ...(body.object_attributes['last_commit'] as object), id: opts.sha },
    ...(opts.fromFork ? { source: { ...(body.object_attributes['source'] as object), path_with_namespace: opts.fromFork.path } } : {}),
  };
  return body;
}
