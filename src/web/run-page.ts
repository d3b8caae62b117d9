import express, { type Router } from 'express';
import type { PlannedJob } from '../planning/plan-types.js';
import type { RunStore } from '../runs/run-store.js';
import type { JobRecord, RunRecord } from '../runs/types.js';
import type { Access } from './access.js';
import { requireSignIn, signedIn } from './guard.js';
import { html, type SafeHtml } from './html.js';
import { csrfField, phaseBadge, sendPage, sendProblem, when } from './layout.js';
import type { OpenSession } from './sessions.js';

const OPEN_RUN = new Set(['received', 'planning', 'running']);
const RETRYABLE = new Set(['failed', 'canceled', 'succeeded', 'skipped']);

/** What the signed-in person may do on this run, asked of GitLab (cached per session). */
interface Allowed {
  operate: boolean;
  /** Per manual job: ok, or why not. */
  decide: Map<string, { ok: true } | { ok: false; why: string }>;
}

/**
 * GET /runs/:id — the page commit statuses and chat messages link to: the job graph (a column per
 * stage, each job with its phase, reason and needs), test results, coverage, the Sonar gate, the
 * image digest, deployments per environment, the actions the person may take, and the live log
 * (run.js over /runs/:id/log/stream).
 */
/** `pausedAt`: whether a running deploy's canary waits at a `pause: {}` (decided like a waiting step). */
export function createRunPage(deps: { store: RunStore; access: Access; pausedAt?: (run: RunRecord, job: string) => Promise<boolean> }): Router {
  const router = express.Router();
  router.get('/runs/:id', requireSignIn('page'), async (req, res) => {
    const session = signedIn(res);
    const run = await deps.store.get(String(req.params['id']));
    if (!run || !(await deps.access.canView(session, run.request.project.id))) {
      // The same answer for a run that exists elsewhere: whether it does is not for this person to learn.
      sendProblem(req, res, 404, `run ${String(req.params['id'])} not found (or not in a project you are a Reporter of)`, session, '/pipelines');
      return;
    }
    const allowed = await allowedOn(deps.access, session, run, deps.pausedAt);
    sendPage(res, 200, `Run ${run.id}`, session, renderRun(run, session, allowed), 'run.js');
  });
  return router;
}

async function allowedOn(access: Access, session: OpenSession, run: RunRecord, pausedAt?: (run: RunRecord, job: string) => Promise<boolean>): Promise<Allowed> {
  const decide = new Map<string, { ok: true } | { ok: false; why: string }>();
  for (const j of run.jobs) {
    const planned = run.plan?.jobs.find((p) => p.name === j.name);
    const paused = j.status.phase === 'running' && planned?.kind === 'deploy' && pausedAt !== undefined && (await pausedAt(run, j.name));
    if ((j.status.phase === 'manual' || paused) && planned) decide.set(j.name, await access.mayDecide(session, run, planned));
  }
  return { operate: await access.canOperate(session, run.request.project.id), decide };
}

export function renderRun(run: RunRecord, session: OpenSession, allowed: Allowed): SafeHtml {
  const r = run.request;
  const id = encodeURIComponent(run.id);
  const actions: SafeHtml[] = [];
  if (allowed.operate && OPEN_RUN.has(run.status.phase))
    actions.push(html`<form method="post" action="/runs/${id}/cancel">${csrfField(session)}<button type="submit" class="danger">Cancel run</button></form>`);
  if (allowed.operate && RETRYABLE.has(run.status.phase))
    actions.push(
      html`<form method="post" action="/runs/${id}/retry">${csrfField(session)}<button type="submit">Retry (new run of ${r.sha.slice(0, 8)})</button></form>`,
    );
  return html`<h1>Run <code>${run.id}</code></h1>
<p class="summary" data-run="${run.id}" data-open="${OPEN_RUN.has(run.status.phase) ? 'true' : 'false'}">
${phaseBadge(run.status.phase)} <span id="run-reason" class="reason">${run.status.reason}</span></p>
<dl class="facts">
<dt>Project</dt><dd>${r.project.webUrl ? html`<a href="${r.project.webUrl}">${r.project.path}</a>` : r.project.path}</dd>
<dt>Ref</dt><dd>${r.ref}${r.mergeRequest ? html` (merge request !${r.mergeRequest.iid}: ${r.mergeRequest.title})` : ''}</dd>
<dt>Commit</dt><dd><code>${r.sha}</code></dd>
<dt>Event</dt><dd>${r.event}${r.actor ? html` by @${r.actor}` : ''}, ${when(run.createdAt)}</dd>
${run.image ? html`<dt>Image</dt><dd><code>${run.image.ref}</code></dd>` : ''}
${run.sonar ? html`<dt>Sonar gate</dt><dd>${phaseBadge(run.sonar.outcome)} ${run.sonar.status} <a href="${run.sonar.dashboardUrl}">dashboard</a></dd>` : ''}
</dl>
${actions.length > 0 ? html`<div class="actions" aria-label="Run actions">${actions}</div>` : ''}
<p id="changed" class="notice" hidden>This run changed since the page was loaded: <a href="/runs/${id}">reload</a> for the current actions.</p>
<h2>Jobs</h2>
${renderGraph(run, session, allowed)}
${renderDeployments(run)}
<h2 id="log-title">Log</h2>
<div class="log-tools"><label for="log-job">Show</label> <select id="log-job"><option value="">every job</option>${run.jobs.map((j) => html`<option>${j.name}</option>`)}</select>
<label><input type="checkbox" id="log-follow" checked> Follow the end</label> <span id="log-state" role="status"></span></div>
<p id="log-notice" class="notice" hidden></p>
<div id="log" class="log" role="log" aria-labelledby="log-title" tabindex="0" data-stream="/runs/${id}/log/stream"></div>`;
}

function renderGraph(run: RunRecord, session: OpenSession, allowed: Allowed): SafeHtml {
  if (run.jobs.length === 0) return html`<p>No jobs planned yet.</p>`;
  const stages = run.plan?.stages.filter((s) => run.jobs.some((j) => j.stage === s)) ?? [];
  for (const j of run.jobs) if (!stages.includes(j.stage)) stages.push(j.stage);
  return html`<div class="graph">${stages.map(
    (stage, i) => html`<section class="stage" aria-labelledby="stage-${i}"><h3 id="stage-${i}">${stage}</h3>
<ul>${run.jobs
      .filter((j) => j.stage === stage)
      .map(
        (j) =>
          html`<li>${renderJob(
            run,
            j,
            run.plan?.jobs.find((p) => p.name === j.name),
            session,
            allowed,
          )}</li>`,
      )}</ul></section>`,
  )}</div>`;
}

function renderJob(run: RunRecord, j: JobRecord, planned: PlannedJob | undefined, session: OpenSession, allowed: Allowed): SafeHtml {
  const base = `/runs/${encodeURIComponent(run.id)}/jobs/${encodeURIComponent(j.name)}`;
  const decide = allowed.decide.get(j.name);
  const isApproval = planned?.kind === 'deploy';
  let act: SafeHtml | string = '';
  // Only waiting steps are in `decide`: manual ones, and deploys whose canary waits at a pause.
  if (decide) {
    act = decide.ok
      ? isApproval
        ? html`<form method="post" action="${base}/approve" class="inline">${csrfField(session)}<button type="submit">Approve ${j.name}</button></form>
<form method="post" action="${base}/reject" class="inline reject">${csrfField(session)}<label>Reason <input name="reason" required maxlength="1000"></label> <button type="submit" class="danger">Reject</button></form>`
        : html`<form method="post" action="${base}/play" class="inline">${csrfField(session)}<button type="submit">Play ${j.name}</button></form>`
      : html`<p class="why">${decide.why}</p>`;
  }
  const t = j.tests;
  return html`<article class="job" data-job="${j.name}" aria-label="${j.name}">
<h4>${j.name} <small>${j.kind}${planned?.kind === 'deploy' ? html` → ${planned.environment}${planned.clusters.length > 0 ? html` (${planned.clusters.join(', ')})` : ''}` : ''}</small></h4>
<p>${phaseBadge(j.status.phase)} <span class="reason">${j.status.reason}</span></p>
${planned && planned.needs.length > 0 ? html`<p class="needs">needs: ${planned.needs.join(', ')}</p>` : ''}
${t ? html`<p class="tests">tests: ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped, ${t.errors} errors</p>${t.failures.length > 0 ? html`<details><summary>${t.failures.length} failures</summary><ul>${t.failures.slice(0, 20).map((f) => html`<li><strong>${f.suite} › ${f.name}</strong>: ${f.message}</li>`)}</ul></details>` : ''}` : ''}
${j.coverage !== undefined ? html`<p class="coverage">coverage: ${j.coverage}%</p>` : ''}
${j.attempt !== undefined && j.attempt > 1 ? html`<p>attempt ${j.attempt}</p>` : ''}
${j.startedAt ? html`<p class="times">started ${when(j.startedAt)}${j.finishedAt ? html`, ended ${when(j.finishedAt)}` : ''}</p>` : ''}
${act}</article>`;
}

function renderDeployments(run: RunRecord): SafeHtml | string {
  if (run.deployments.length === 0) return '';
  return html`<h2>Deployments</h2><table><thead><tr><th scope="col">Environment</th><th scope="col">Target</th><th scope="col">Image</th><th scope="col">Address</th><th scope="col">When</th></tr></thead>
<tbody>${run.deployments.map((d) => html`<tr><td>${d.environment}</td><td>${d.target}</td><td><code>${d.image}</code></td><td>${d.url}</td><td>${when(d.at)}</td></tr>`)}</tbody></table>`;
}
