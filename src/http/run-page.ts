import express, { type Router } from 'express';

/**
 * GET /runs/:id — the page commit statuses link to. It loads the run and its log through the API
 * with the token the user pastes once or brings in the link's fragment (kept in the browser's
 * localStorage), and refreshes itself.
 */
export function createRunPage(): Router {
  const router = express.Router();
  router.get('/runs/:id', (req, res) => {
    const id = JSON.stringify(req.params.id).replace(/</g, '\\u003c');
    res.type('html').send(`<!doctype html><meta charset="utf-8"><title>Slipway run</title>
<style>body{font:14px system-ui;margin:2em}pre{background:#111;color:#ddd;padding:1em;overflow:auto}td,th{padding:2px 8px;text-align:left}</style>
<h1>Run <span id="id"></span></h1><p id="status"></p><table id="jobs"></table><pre id="log"></pre>
<script>
const id = ${id};
document.getElementById('id').textContent = id;
// A link may carry the token in its fragment (#token=…), which browsers never send to the server.
const fromLink = new URLSearchParams(location.hash.slice(1)).get('token');
if (fromLink) { localStorage.setItem('slipwayToken', fromLink); history.replaceState(null, '', location.pathname); }
let token = localStorage.getItem('slipwayToken') || prompt('Slipway API token');
localStorage.setItem('slipwayToken', token);
const h = { Authorization: 'Bearer ' + token };
async function tick() {
  const run = await (await fetch('/api/runs/' + encodeURIComponent(id), { headers: h })).json();
  const log = await (await fetch('/api/runs/' + encodeURIComponent(id) + '/log', { headers: h })).json();
  document.getElementById('status').textContent = run.status ? run.status.phase + ' — ' + run.status.reason : run.error;
  const t = document.getElementById('jobs'); t.replaceChildren();
  for (const j of run.jobs || []) { const r = t.insertRow(); for (const c of [j.name, j.status.phase, j.status.reason]) r.insertCell().textContent = c; }
  document.getElementById('log').textContent = (log.lines || []).map(l => '[' + l.job + '] ' + l.line).join('\\n');
  if (run.status && ['running','planning','received'].includes(run.status.phase)) setTimeout(tick, 1000);
}
tick();
</script>`);
  });
  return router;
}
