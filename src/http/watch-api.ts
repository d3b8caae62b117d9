import express, { type Router } from 'express';
import type { ProjectWatch, WatchState } from '../runs/project-watch.js';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** What /readyz says about lost events: one line per problem, prefixed with the project. */
export async function lostEventLines(watch: ProjectWatch): Promise<string[]> {
  return (await watch.all()).flatMap((s) => s.problems.map((p) => `project ${s.ref?.path ?? s.projectId}: ${p}`));
}

function view(s: WatchState) {
  return {
    project: s.projectId,
    path: s.ref?.path ?? null,
    watchedSince: iso(s.firstSeenAt),
    lastWebhookAt: iso(s.lastWebhookAt),
    lastCheckedAt: iso(s.lastCheckedAt),
    lastMissedAt: iso(s.lastMissedAt),
    branches: s.heads,
    problems: s.problems,
  };
}

/** GET /api/projects/watch (behind the API token): each known project's event flow as the reconciler last saw it. */
export function createWatchApi(watch: ProjectWatch): Router {
  const router = express.Router();
  router.get('/api/projects/watch', async (_req, res) => {
    res.json((await watch.all()).map(view));
  });
  return router;
}
