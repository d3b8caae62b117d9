import express, { type Router } from 'express';
import { MAX_LOG_LINES, type RunStore } from '../runs/run-store.js';
import type { RunSummary } from '../runs/types.js';
import type { Access } from './access.js';
import { requireSignIn, signedIn } from './guard.js';

const BATCH = 500;
const POLL_MS = 500;
const HEARTBEAT_MS = 15_000;
/** A stream ends after this and the browser reconnects with Last-Event-ID, so no connection lives forever. */
const STREAM_DEADLINE_MS = 10 * 60_000;
const OPEN_RUN = new Set(['received', 'planning', 'running']);

/** What the page updates in place when it changes: the run's and each job's phase and reason. */
function statusOf(run: RunSummary) {
  return {
    phase: run.status.phase,
    reason: run.status.reason,
    jobs: run.jobs.map((j) => ({ name: j.name, phase: j.status.phase, reason: j.status.reason })),
  };
}

/**
 * GET /runs/:id/log/stream — the run's log as Server-Sent Events, from line `from` (or the line
 * after the browser's Last-Event-ID): one `id: <line index>` event per line, lines read from Redis
 * as the job writes them (already masked), `event: truncated` when lines before the wanted one were
 * dropped by the 20,000-line cap, `event: status` when a phase or reason changes, and `event: end`
 * once the run has ended and every line was sent.
 */
export function createLogStream(deps: { store: RunStore; access: Access }): Router {
  const router = express.Router();
  router.get('/runs/:id/log/stream', requireSignIn('json'), async (req, res) => {
    const session = signedIn(res);
    const id = String(req.params['id']);
    const run = await deps.store.summary(id);
    if (!run || !(await deps.access.canView(session, run.request.project.id))) {
      res.status(404).json({ error: `run ${id} not found (or not in a project you are a Reporter of)` });
      return;
    }
    const lastId = req.get('last-event-id');
    const fromQuery = req.query['from'];
    let next = 0;
    if (lastId !== undefined && /^\d{1,9}$/.test(lastId)) next = Number(lastId) + 1;
    else if (typeof fromQuery === 'string') {
      if (!/^\d{1,9}$/.test(fromQuery)) {
        res.status(400).json({ error: 'from must be a line index (a whole number from 0)' });
        return;
      }
      next = Number(fromQuery);
    }

    res.status(200).set({
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      Connection: 'keep-alive',
    });
    res.flushHeaders();
    res.write('retry: 2000\n\n');

    let closed = false;
    req.on('close', () => {
      closed = true;
    });
    const deadline = Date.now() + STREAM_DEADLINE_MS;
    let lastBeat = Date.now();
    let lastStatus = '';
    const send = (text: string) => {
      if (!closed) res.write(text);
    };
    try {
      while (!closed && Date.now() < deadline) {
        const window = await deps.store.readLogWindow(id, next, BATCH);
        if (window.first > next) {
          send(`event: truncated\ndata: ${JSON.stringify({ dropped: window.first - next, first: window.first, cap: MAX_LOG_LINES })}\n\n`);
          next = window.first;
        }
        if (window.lines.length > 0) {
          send(window.lines.map((l, i) => `id: ${next + i}\ndata: ${JSON.stringify(l)}\n\n`).join(''));
          next += window.lines.length;
          lastBeat = Date.now();
        }
        const now = await deps.store.summary(id);
        if (!now) break;
        const status = JSON.stringify(statusOf(now));
        if (status !== lastStatus) {
          send(`event: status\ndata: ${status}\n\n`);
          lastStatus = status;
        }
        if (!OPEN_RUN.has(now.status.phase) && next >= window.total && window.lines.length < BATCH) {
          // A manual job started later reopens the run: the page reloads on the status change if it is still open.
          send(`event: end\ndata: ${JSON.stringify({ phase: now.status.phase, lines: next })}\n\n`);
          break;
        }
        if (window.lines.length === BATCH) continue; // more is waiting: no pause
        if (Date.now() - lastBeat > HEARTBEAT_MS) {
          send(': still here\n\n');
          lastBeat = Date.now();
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } finally {
      res.end();
    }
  });
  return router;
}
