import express, { type Router } from 'express';
import type { ListCursor, RunStore } from '../runs/run-store.js';
import type { RunPhase } from '../runs/types.js';
import type { Access } from './access.js';
import { requireSignIn, signedIn } from './guard.js';
import { html } from './html.js';
import { phaseBadge, sendPage, sendProblem, when } from './layout.js';

const PHASES: readonly RunPhase[] = ['received', 'planning', 'running', 'succeeded', 'failed', 'canceled', 'skipped'];
const PAGE_SIZE = 25;

/** The `after` cursor in a link: `<creation ms>.<run id>`. */
const cursorText = (c: ListCursor) => `${c.score}.${c.id}`;
function parseCursor(v: unknown): ListCursor | undefined | 'bad' {
  if (v === undefined || v === '') return undefined;
  const m = typeof v === 'string' ? /^(\d{1,16})\.([\w-]{1,64})$/.exec(v) : null;
  return m ? { score: Number(m[1]), id: m[2] ?? '' } : 'bad';
}

/** GET /pipelines?project=&ref=&status=&per_page=&after= — runs the person may see, newest first, 25 a page unless per_page says. */
export function createPipelinesPage(deps: { store: RunStore; access: Access }): Router {
  const router = express.Router();
  router.get('/', (_req, res) => res.redirect(303, '/pipelines'));
  router.get('/pipelines', requireSignIn('page'), async (req, res) => {
    const session = signedIn(res);
    const q = (name: string) => (typeof req.query[name] === 'string' ? (req.query[name] as string).trim() : '');
    const problems: string[] = [];
    const project = q('project');
    if (project !== '' && !/^\d{1,12}$/.test(project)) problems.push('project must be a numeric GitLab project id');
    const ref = q('ref');
    if (ref.length > 255) problems.push('ref must be at most 255 characters');
    const status = q('status');
    if (status !== '' && !PHASES.includes(status as RunPhase)) problems.push(`status must be one of ${PHASES.join(', ')}`);
    const perPage = q('per_page') === '' ? PAGE_SIZE : Number(q('per_page'));
    if (!Number.isInteger(perPage) || perPage < 1 || perPage > 100) problems.push('per_page must be a whole number from 1 to 100');
    const after = parseCursor(req.query['after']);
    if (after === 'bad') problems.push('after must be a cursor from a "Older runs" link');
    if (problems.length > 0) {
      sendProblem(req, res, 400, problems.join('; '), session, '/pipelines');
      return;
    }
    const page = await deps.store.listPage({
      ...(project !== '' ? { projectId: Number(project) } : {}),
      ...(ref !== '' ? { ref } : {}),
      ...(status !== '' ? { phase: status as RunPhase } : {}),
      ...(after && after !== 'bad' ? { after } : {}),
      limit: perPage,
      visible: (run) => deps.access.canView(session, run.request.project.id),
    });
    const keep = new URLSearchParams({
      ...(project ? { project } : {}),
      ...(ref ? { ref } : {}),
      ...(status ? { status } : {}),
      ...(perPage !== PAGE_SIZE ? { per_page: String(perPage) } : {}),
    });
    const older = page.next ? `/pipelines?${new URLSearchParams([...keep, ['after', cursorText(page.next)]])}` : undefined;
    sendPage(
      res,
      200,
      'Pipelines',
      session,
      html`<h1>Pipelines</h1>
<form method="get" action="/pipelines" class="filters" role="search" aria-label="Filter pipelines">
<label>Project ID <input name="project" inputmode="numeric" value="${project}" size="8"></label>
<label>Ref <input name="ref" value="${ref}" size="20"></label>
<label>Status <select name="status"><option value="">any</option>${PHASES.map((p) => html`<option${p === status ? html` selected` : ''}>${p}</option>`)}</select></label>
<button type="submit">Filter</button> <a href="/pipelines">Clear</a></form>
${
  page.runs.length === 0
    ? html`<p>No runs${after ? ' older than these' : ''} match.</p>`
    : html`<table class="runs"><caption class="visually-hidden">Runs, newest first</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Project</th><th scope="col">Ref</th><th scope="col">Commit</th><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Created</th></tr></thead>
<tbody>${page.runs.map(
        (r) => html`<tr><td><a href="/runs/${encodeURIComponent(r.id)}">${r.id}</a></td><td>${r.request.project.path}</td><td>${r.request.ref}</td>
<td><code>${r.request.sha.slice(0, 8)}</code></td><td>${r.request.event}${r.request.actor ? html` by @${r.request.actor}` : ''}</td>
<td>${phaseBadge(r.status.phase)} <span class="reason">${r.status.reason}</span></td><td>${when(r.createdAt)}</td></tr>`,
      )}</tbody></table>`
}
<nav aria-label="Pages" class="pages">${after ? html`<a href="/pipelines?${keep.toString()}">Newest</a>` : ''} ${older ? html`<a href="${older}" rel="next">Older runs</a>` : ''}</nav>`,
    );
  });
  return router;
}
