import express, { type Request, type Response, type Router } from 'express';
import type { AuditLog } from '../approvals/audit-log.js';
import type { DoraReport } from '../dora/compute.js';
import { DEFAULT_DAYS, type DoraDeps, doraReports } from '../dora/dora.js';
import type { Logger } from '../logging/logger.js';
import { liveRelease } from '../releases/choose.js';
import type { ReleaseHistories } from '../releases/release-history.js';
import { requestRollback, type RollbackJobData } from '../releases/rollback.js';
import type { Pause, ReleaseEntry, ReleaseOutcome } from '../releases/types.js';
import type { RunStore } from '../runs/run-store.js';
import type { RunRecord } from '../runs/types.js';
import type { Access } from './access.js';
import { requireCsrf, requireSignIn, signedIn } from './guard.js';
import { html, type SafeHtml } from './html.js';
import { csrfField, sendPage, sendProblem, when } from './layout.js';

export interface EnvironmentsDeps {
  histories: ReleaseHistories;
  dora: DoraDeps;
  store: RunStore;
  access: Access;
  audit: AuditLog;
  /** Queues the rollback on the deploy queue (wired in roles/http.ts). */
  enqueueRollback: (job: RollbackJobData) => Promise<void>;
  logger: Logger;
}

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const MAX_REASON = 500;

/** Health, from the newest release record (not a probe): what the last verdict of the environment said. */
export interface Health {
  state: 'healthy' | 'degraded' | 'rolling-back' | 'down';
  text: string;
}

/** Pure: the health the matrix shows for an environment's history (newest first). */
export function healthOf(entries: readonly ReleaseEntry[], pause: Pause | null): Health {
  const newest = entries[0];
  const live = liveRelease(entries);
  const paused = pause ? `; automatic deploys paused since the rollback to release ${pause.release} by ${pause.by}` : '';
  if (!newest) return { state: 'down', text: 'nothing recorded' };
  if (newest.outcome === 'pending')
    return { state: 'rolling-back', text: `rollback ${newest.id} to release ${newest.rollbackTo ?? '?'} in progress: ${newest.detail}` };
  if (newest.outcome === 'live') return { state: 'healthy', text: `release ${newest.id} passed its health check${paused}` };
  if (!live) return { state: 'down', text: `release ${newest.id} ${newest.outcome}: ${newest.detail}; no release is live${paused}` };
  return { state: 'degraded', text: `release ${newest.id} ${newest.outcome}: ${newest.detail}; release ${live.id} still serves${paused}` };
}

const BADGE: Record<Health['state'] | ReleaseOutcome, string> = {
  healthy: 'success',
  live: 'success',
  degraded: 'warn',
  'rolled-back': 'warn',
  'rolling-back': 'running',
  pending: 'running',
  down: 'failed',
  failed: 'failed',
};
const badge = (state: Health['state'] | ReleaseOutcome) => html`<span class="phase phase-${BADGE[state]}">${state}</span>`;

const shortDigest = (d: string | null) => (d ? d.replace(/^sha256:/, '').slice(0, 12) : '—');

function versionOf(e: ReleaseEntry, run: RunRecord | null): SafeHtml {
  const tag = run?.request.event === 'tag' ? html` <span class="tag">${run.request.ref}</span>` : '';
  return html`<code>${e.sha.slice(0, 8)}</code>${tag}`;
}

function whoOf(e: ReleaseEntry, run: RunRecord | null): string {
  if (e.by !== 'pipeline') return e.by;
  return run?.request.actor ? `pipeline (@${run.request.actor})` : 'pipeline';
}

function duration(seconds: number | null): string {
  if (seconds === null) return '—';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} d`;
}

function doraRows(reports: readonly DoraReport[]): SafeHtml {
  return html`${reports.map(
    (
      r,
    ) => html`<tr><th scope="row">${r.service}</th><td>${r.environment}</td><td>${r.deployments.perDay} a day <span class="reason">(${r.deployments.succeeded} of ${r.deployments.total})</span></td>
<td>${duration(r.leadTime.medianSeconds)} <span class="reason">(${r.leadTime.samples} deploys${r.leadTime.unknown ? `, ${r.leadTime.unknown} unknown` : ''})</span></td>
<td>${r.changeFailureRate === null ? '—' : `${Math.round(r.changeFailureRate * 100)} %`} <span class="reason">(${r.deployments.failed} failed)</span></td>
<td>${duration(r.timeToRestore.medianSeconds)} <span class="reason">(${r.timeToRestore.restored} restored${r.timeToRestore.open ? `, ${r.timeToRestore.open} open` : ''})</span></td>
<td>${r.complete ? '' : 'only the last 50 releases are kept: part of the window is not counted'}</td></tr>`,
  )}`;
}

function doraTable(reports: readonly DoraReport[], caption: string): SafeHtml {
  return html`<table class="dora"><caption>${caption}</caption>
<thead><tr><th scope="col">Service</th><th scope="col">Environment</th><th scope="col">Deployment frequency</th><th scope="col">Lead time for changes (median)</th><th scope="col">Change failure rate</th><th scope="col">Time to restore (median)</th><th scope="col">Note</th></tr></thead>
<tbody>${doraRows(reports)}</tbody></table>`;
}

/**
 * GET /environments — the matrix: service × environment × cluster with what runs (digest, version,
 * when, who) and the health of the newest release record, then DORA for the last 30 days.
 * GET /environments/:service/:env — the release history with Roll back (to a chosen release, with a
 * reason) and Resume for Maintainers+ of the project; POST …/rollback and …/resume (CSRF) carry them out.
 * Reporters+ of a project see its environments; others see nothing of them.
 */
export function createEnvironmentsPages(deps: EnvironmentsDeps): Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '16kb' });
  const runs = async (entries: readonly ReleaseEntry[]) => {
    const out = new Map<string, RunRecord | null>();
    for (const e of entries) if (!out.has(e.runId)) out.set(e.runId, await deps.store.get(e.runId).catch(() => null));
    return out;
  };
  const windowNow = () => ({ since: new Date(Date.now() - DEFAULT_DAYS * 86_400_000), until: new Date() });

  router.get('/environments', requireSignIn('page'), async (_req, res) => {
    const session = signedIn(res);
    const rows: SafeHtml[] = [];
    const visible: Array<{ service: string; environment: string }> = [];
    for (const pair of await deps.histories.pairs()) {
      const history = deps.histories.of(pair.service, pair.environment);
      const entries = await history.list();
      const newest = entries[0];
      if (!newest || !(await deps.access.canView(session, newest.project.id))) continue;
      visible.push(pair);
      const live = liveRelease(entries);
      const health = healthOf(entries, await history.pause());
      const run = live ? ((await runs([live])).get(live.runId) ?? null) : null;
      const link = `/environments/${encodeURIComponent(pair.service)}/${encodeURIComponent(pair.environment)}`;
      const clusters = live && live.clusters.length > 0 ? live.clusters : ['docker host'];
      for (const cluster of clusters) {
        rows.push(html`<tr data-service="${pair.service}" data-environment="${pair.environment}" data-cluster="${cluster}">
<th scope="row">${pair.service}</th><td><a href="${link}">${pair.environment}</a></td><td>${cluster}</td>
<td>${live ? html`<code title="${live.digest ?? ''}" class="digest">${shortDigest(live.digest)}</code>` : '—'}</td>
<td>${live ? versionOf(live, run) : '—'}</td><td>${live ? when(live.endedAt ?? live.at) : '—'}</td><td>${live ? whoOf(live, run) : '—'}</td>
<td>${badge(health.state)} <span class="reason">${health.text}</span></td>
<td><a href="${link}">Release history${live ? ` (release ${live.id} live)` : ''}</a></td></tr>`);
      }
    }
    const reports = (await doraReports(deps.dora, {}, windowNow())).filter((r) =>
      visible.some((v) => v.service === r.service && v.environment === r.environment),
    );
    sendPage(
      res,
      200,
      'Environments',
      session,
      html`<h1>Environments</h1>
${
  rows.length === 0
    ? html`<p>Nothing was deployed yet to an environment of a project you are a Reporter of.</p>`
    : html`<table class="matrix"><caption class="visually-hidden">What runs in each environment and cluster</caption>
<thead><tr><th scope="col">Service</th><th scope="col">Environment</th><th scope="col">Cluster</th><th scope="col">Digest</th><th scope="col">Version</th><th scope="col">Since</th><th scope="col">By</th><th scope="col">Health</th><th scope="col">History</th></tr></thead>
<tbody>${rows}</tbody></table>
<p class="help">Health is the verdict of each environment's newest release: healthy when it passed its health check (and analysis), degraded when it failed or was rolled back while an older release still serves, down when nothing is live.</p>
<h2>DORA, last ${DEFAULT_DAYS} days</h2>${doraTable(reports, `DORA per service and environment since ${windowNow().since.toISOString().slice(0, 10)}`)}`
}`,
    );
  });

  /** The history named by the path, when the person may see it; else the refusal is sent. */
  const load = async (req: Request, res: Response) => {
    const session = signedIn(res);
    const service = String(req.params['service']);
    const environment = String(req.params['env']);
    if (!NAME.test(service) || !NAME.test(environment)) {
      sendProblem(req, res, 400, 'service and environment are names (lowercase letters, digits and -)', session, '/environments');
      return null;
    }
    const history = deps.histories.of(service, environment);
    const entries = await history.list();
    const newest = entries[0];
    if (!newest || !(await deps.access.canView(session, newest.project.id))) {
      sendProblem(
        req,
        res,
        404,
        `no release of ${service} in ${environment} is recorded (or not in a project you are a Reporter of)`,
        session,
        '/environments',
      );
      return null;
    }
    const project = (liveRelease(entries) ?? newest).project;
    return { session, service, environment, history, entries, project, maintainer: await deps.access.canMaintain(session, project.id) };
  };

  router.get('/environments/:service/:env', requireSignIn('page'), async (req, res) => {
    const ctx = await load(req, res);
    if (!ctx) return;
    const { session, service, environment, history, entries, project, maintainer } = ctx;
    const pause = await history.pause();
    const live = liveRelease(entries);
    const byRun = await runs(entries);
    const base = `/environments/${encodeURIComponent(service)}/${encodeURIComponent(environment)}`;
    const [dora] = await doraReports(deps.dora, { service, environment }, windowNow());
    const health = healthOf(entries, pause);
    const rollbackForm = (e: ReleaseEntry) =>
      html`<form method="post" action="${base}/rollback" class="inline rollback">${csrfField(session)}<input type="hidden" name="release" value="${e.id}">
<label>Reason <input name="reason" required maxlength="${MAX_REASON}"></label> <button type="submit" class="danger">Roll back to release ${e.id}</button></form>`;
    const rows = entries.map((e) => {
      const run = byRun.get(e.runId) ?? null;
      const canRollBackTo = maintainer && e.outcome === 'live' && live !== null && e.runId !== live.runId;
      return html`<tr data-release="${e.id}"${live?.id === e.id ? html` class="live"` : ''}>
<th scope="row">${e.id}${live?.id === e.id ? html` <span class="phase phase-success">live now</span>` : ''}</th>
<td>${e.kind === 'rollback' ? `rollback to ${e.rollbackTo ?? '?'}` : e.kind}</td><td>${badge(e.outcome)}</td>
<td><code title="${e.digest ?? ''}">${shortDigest(e.digest)}</code><br>${versionOf(e, run)}</td><td>${e.configRevision ?? '—'}</td>
<td><a href="/runs/${encodeURIComponent(e.runId)}">${e.runId}</a></td><td>${whoOf(e, run)}</td><td>${when(e.at)}</td>
<td>${e.reason}<br><span class="reason">${e.detail}</span></td><td>${canRollBackTo ? rollbackForm(e) : ''}</td></tr>`;
    });
    sendPage(
      res,
      200,
      `${service} / ${environment}`,
      session,
      html`<p><a href="/environments">Environments</a></p><h1>${service} in ${environment}</h1>
<p>Project ${project.path}. Health: ${badge(health.state)} <span class="reason">${health.text}</span></p>
${
  pause
    ? html`<section class="paused" aria-label="Paused"><p role="status">Automatic deploys to ${environment} are paused since the rollback to release ${pause.release} by ${pause.by} at ${when(pause.at)}: ${pause.reason}</p>
${maintainer ? html`<form method="post" action="${base}/resume" class="inline">${csrfField(session)}<button type="submit">Resume automatic deploys</button></form>` : ''}</section>`
    : ''
}
${maintainer ? '' : html`<p class="why">Only a Maintainer or Owner of ${project.path} may roll back or resume ${environment}.</p>`}
<h2>Release history</h2>
<table class="releases"><caption class="visually-hidden">Releases of ${service} in ${environment}, newest first</caption>
<thead><tr><th scope="col">Release</th><th scope="col">Kind</th><th scope="col">Outcome</th><th scope="col">Digest and version</th><th scope="col">Config revision</th><th scope="col">Run</th><th scope="col">By</th><th scope="col">When</th><th scope="col">Why</th><th scope="col">Roll back</th></tr></thead>
<tbody>${rows}</tbody></table>
<h2>DORA, last ${DEFAULT_DAYS} days</h2>${dora ? doraTable([dora], `DORA of ${service} in ${environment}`) : ''}`,
    );
  });

  const guard = [requireSignIn('json'), form, requireCsrf];
  const mayChange = async (req: Request, res: Response) => {
    const ctx = await load(req, res);
    if (!ctx) return null;
    if (!ctx.maintainer) {
      sendProblem(
        req,
        res,
        403,
        `only a Maintainer or Owner of ${ctx.project.path} may roll back or resume ${ctx.environment}`,
        ctx.session,
        `/environments/${ctx.service}/${ctx.environment}`,
      );
      return null;
    }
    return ctx;
  };

  router.post('/environments/:service/:env/rollback', ...guard, async (req, res) => {
    const ctx = await mayChange(req, res);
    if (!ctx) return;
    const { session, service, environment } = ctx;
    const back = `/environments/${service}/${environment}`;
    const body = (req.body ?? {}) as Record<string, unknown>;
    const reason = typeof body['reason'] === 'string' ? body['reason'].trim() : '';
    const releaseText = typeof body['release'] === 'string' ? body['release'] : '';
    const release = releaseText === '' ? undefined : Number(releaseText);
    if (reason === '' || reason.length > MAX_REASON) {
      sendProblem(req, res, 400, `say why you roll back (1 to ${MAX_REASON} characters): it is recorded and shown to whoever resumes`, session, back);
      return;
    }
    if (release !== undefined && (!Number.isInteger(release) || release < 1)) {
      sendProblem(req, res, 400, 'release must be a release id (1, 2, 3…)', session, back);
      return;
    }
    const by = session.user.username;
    const answer = await requestRollback(
      deps.histories,
      { service, environment, reason, by, ...(release !== undefined ? { release } : {}) },
      deps.enqueueRollback,
    );
    if (answer.status !== 202) {
      sendProblem(req, res, answer.status, answer.error, session, back);
      return;
    }
    const { rollback, target } = answer;
    await deps.audit.append({
      at: rollback.at,
      action: 'rollback',
      outcome: 'requested',
      started: true,
      user: { id: session.user.id, username: by },
      source: 'web',
      project: target.project,
      runId: target.runId,
      job: `rollback:${environment}`,
      service,
      environment,
      sha: target.sha,
      digest: target.digest,
      rule: `a Maintainer or Owner of ${target.project.path}`,
      detail: `rollback ${rollback.id} to release ${target.id} (run ${target.runId}, ${target.image}); automatic deploys to ${environment} paused`,
      reason,
    });
    deps.logger.info({ service, environment, rollback: rollback.id, to: target.id, user: by }, 'rollback requested from the web UI');
    res.redirect(303, back);
  });

  router.post('/environments/:service/:env/resume', ...guard, async (req, res) => {
    const ctx = await mayChange(req, res);
    if (!ctx) return;
    const { session, service, environment, history } = ctx;
    const back = `/environments/${service}/${environment}`;
    const paused = await history.clearPause();
    if (paused) {
      const live = liveRelease(await history.list());
      await deps.audit.append({
        at: new Date().toISOString(),
        action: 'resume',
        outcome: 'resumed',
        started: true,
        user: { id: session.user.id, username: session.user.username },
        source: 'web',
        project: ctx.project,
        runId: live?.runId ?? '',
        job: `resume:${environment}`,
        service,
        environment,
        sha: live?.sha ?? '',
        digest: live?.digest ?? null,
        rule: `a Maintainer or Owner of ${ctx.project.path}`,
        detail: `automatic deploys to ${environment} resumed (paused since the rollback to release ${paused.release} by ${paused.by} at ${paused.at})`,
        reason: null,
      });
      deps.logger.info({ service, environment, user: session.user.username }, 'automatic deploys resumed from the web UI');
    }
    res.redirect(303, back);
  });
  return router;
}
