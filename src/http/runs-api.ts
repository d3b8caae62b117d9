import express, { type Router } from 'express';
import type { RunStore } from '../runs/run-store.js';

/** GET /api/runs?project=<id>&limit=, GET /api/runs/:id, GET /api/runs/:id/log?from=N */
export function createRunsApi(store: RunStore): Router {
  const router = express.Router();
  router.get('/api/runs', async (req, res) => {
    const project = req.query['project'];
    const limit = Number(req.query['limit'] ?? 50);
    if (project !== undefined && !/^\d+$/.test(String(project))) {
      res.status(400).json({ error: 'project must be a numeric GitLab project id' });
      return;
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      res.status(400).json({ error: 'limit must be a whole number from 1 to 500' });
      return;
    }
    const runs = await store.list({ ...(project !== undefined ? { projectId: Number(project) } : {}), limit });
    res.json({ runs });
  });
  router.get('/api/runs/:id', async (req, res) => {
    const run = await store.get(req.params.id);
    if (!run) {
      res.status(404).json({ error: `run ${req.params.id} not found` });
      return;
    }
    res.json({ ...run, plan: run.plan ?? null });
  });
  router.get('/api/runs/:id/log', async (req, res) => {
    const from = Number(req.query['from'] ?? 0);
    if (!Number.isInteger(from) || from < 0) {
      res.status(400).json({ error: 'from must be a non-negative whole number' });
      return;
    }
    res.json({ from, lines: await store.readLog(req.params.id, from) });
  });
  return router;
}
