import express, { type Router } from 'express';
import type { RunStore } from '../runs/run-store.js';
import type { RunRecord } from '../runs/types.js';
import type { Access } from './access.js';
import { requireSignIn, signedIn } from './guard.js';
import { html } from './html.js';
import { csrfField, sendPage, when } from './layout.js';

/**
 * GET /approvals — the deploys waiting for an approval that the signed-in person may give (the
 * step's rule asked of GitLab for them; authors of the change are left out where the rule says so),
 * oldest first, each with Approve and Reject.
 */
export function createApprovalsInbox(deps: { store: RunStore; access: Access }): Router {
  const router = express.Router();
  router.get('/approvals', requireSignIn('page'), async (_req, res) => {
    const session = signedIn(res);
    const waiting = await deps.store.waitingApprovals();
    const runs = new Map<string, RunRecord | null>();
    const mine: Array<{ run: RunRecord; job: string; since: number }> = [];
    for (const w of waiting) {
      if (!runs.has(w.runId)) runs.set(w.runId, await deps.store.get(w.runId));
      const run = runs.get(w.runId);
      const planned = run?.plan?.jobs.find((j) => j.name === w.job);
      const job = run?.jobs.find((j) => j.name === w.job);
      if (!run || !planned || job?.status.phase !== 'manual') continue;
      if (!(await deps.access.canView(session, run.request.project.id))) continue;
      if ((await deps.access.mayDecide(session, run, planned)).ok) mine.push({ run, job: w.job, since: w.since });
    }
    sendPage(
      res,
      200,
      'Approvals',
      session,
      html`<h1>Approvals waiting for you</h1>
${
  mine.length === 0
    ? html`<p>Nothing waits for your approval.</p>`
    : html`<table class="inbox"><thead><tr><th scope="col">Deploy</th><th scope="col">Project</th><th scope="col">Ref and commit</th><th scope="col">Waiting</th><th scope="col">Decide</th></tr></thead>
<tbody>${mine.map(({ run, job, since }) => {
        const base = `/runs/${encodeURIComponent(run.id)}/jobs/${encodeURIComponent(job)}`;
        const reason = run.jobs.find((j) => j.name === job)?.status.reason ?? '';
        return html`<tr><td><a href="/runs/${encodeURIComponent(run.id)}">${job}</a> of run ${run.id}</td><td>${run.request.project.path}</td>
<td>${run.request.ref} <code>${run.request.sha.slice(0, 8)}</code></td><td>${reason}<br>since ${when(new Date(since).toISOString())}</td>
<td><form method="post" action="${base}/approve" class="inline">${csrfField(session)}<input type="hidden" name="back" value="/approvals"><button type="submit">Approve ${job}</button></form>
<form method="post" action="${base}/reject" class="inline reject">${csrfField(session)}<input type="hidden" name="back" value="/approvals"><label>Reason <input name="reason" required maxlength="1000"></label> <button type="submit" class="danger">Reject</button></form></td></tr>`;
      })}</tbody></table>`
}`,
    );
  });
  return router;
}
