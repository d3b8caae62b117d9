import express, { type Router } from 'express';
import type { CanaryPauses } from '../runs/canary-pause.js';
import type { RunStore } from '../runs/run-store.js';
import type { RunRecord } from '../runs/types.js';
import type { Access } from './access.js';
import { requireSignIn, signedIn } from './guard.js';
import { html } from './html.js';
import { csrfField, sendPage, when } from './layout.js';
import type { OpenSession } from './sessions.js';

/** One thing waiting for the signed-in person's decision: a deploy step, or a canary at a `pause: {}`. */
interface Waiting {
  run: RunRecord;
  job: string;
  since: number;
  /** What it waits for, in the words the run page uses. */
  what: string;
}

/**
 * GET /approvals — what waits for an approval that the signed-in person may give, oldest first: deploy
 * steps waiting as `manual`, and running deploys whose canary waits at a `pause: {}` ("canary at 10%
 * (step 2 of 4) waits for approval"). Both are decided by the same rule (the step's, asked of GitLab
 * for this person; authors of the change are left out where the rule says so) and through the same
 * Approve and Reject forms, which come back here.
 */
export function createApprovalsInbox(deps: { store: RunStore; access: Access; pauses: CanaryPauses }): Router {
  const router = express.Router();
  router.get('/approvals', requireSignIn('page'), async (_req, res) => {
    const session = signedIn(res);
    const runs = new Map<string, RunRecord | null>();
    const runOf = async (id: string) => {
      if (!runs.has(id)) runs.set(id, await deps.store.get(id));
      return runs.get(id) ?? null;
    };
    const mine: Waiting[] = [];
    for (const w of await deps.store.waitingApprovals()) {
      const run = await runOf(w.runId);
      const job = run?.jobs.find((j) => j.name === w.job);
      if (!run || job?.status.phase !== 'manual') continue;
      if (await mayDecide(deps.access, session, run, w.job)) mine.push({ run, job: w.job, since: w.since, what: job.status.reason });
    }
    for (const w of await deps.pauses.waitingList()) {
      const run = await runOf(w.runId);
      if (run?.jobs.find((j) => j.name === w.job)?.status.phase !== 'running') continue;
      // The index may be a moment behind the decision: the pause itself says whether it still waits.
      const pause = await deps.pauses.waiting(run.id, w.job);
      if (!pause) continue;
      const what = `canary at ${pause.weight}% (step ${pause.step} of ${pause.of}) waits for approval`;
      if (await mayDecide(deps.access, session, run, w.job)) mine.push({ run, job: w.job, since: Date.parse(pause.since), what });
    }
    mine.sort((a, b) => a.since - b.since);
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
<tbody>${mine.map(({ run, job, since, what }) => {
        const base = `/runs/${encodeURIComponent(run.id)}/jobs/${encodeURIComponent(job)}`;
        return html`<tr><td><a href="/runs/${encodeURIComponent(run.id)}">${job}</a> of run ${run.id}</td><td>${run.request.project.path}</td>
<td>${run.request.ref} <code>${run.request.sha.slice(0, 8)}</code></td><td>${what}<br>since ${when(new Date(since).toISOString())}</td>
<td><form method="post" action="${base}/approve" class="inline">${csrfField(session)}<input type="hidden" name="back" value="/approvals"><button type="submit">Approve ${job}</button></form>
<form method="post" action="${base}/reject" class="inline reject">${csrfField(session)}<input type="hidden" name="back" value="/approvals"><label>Reason <input name="reason" required maxlength="1000"></label> <button type="submit" class="danger">Reject</button></form></td></tr>`;
      })}</tbody></table>`
}`,
    );
  });
  return router;
}

/** A Reporter of the project whom the step's rule lets decide. */
async function mayDecide(access: Access, session: OpenSession, run: RunRecord, job: string): Promise<boolean> {
  const planned = run.plan?.jobs.find((j) => j.name === job);
  if (!planned || !(await access.canView(session, run.request.project.id))) return false;
  return (await access.mayDecide(session, run, planned)).ok;
}
