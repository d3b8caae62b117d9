import type { Queue } from 'bullmq';
import type { RequestHandler, Router } from 'express';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/**
 * bull-board's dashboard of Slipway's queues, read-only: retrying, promoting or removing a queue
 * job behind Slipway's back would leave its run record saying something else. The caller mounts it
 * at QUEUE_DASHBOARD_PATH behind the API token.
 *
 * bull-board (with its templates, lodash and valibot) is loaded on the dashboard's first request,
 * not at start: most processes never serve it, and loading it cost the http role about 0.4 s of
 * its start and 10 MB (docs/benchmarks.md, start-up and memory).
 */
export function createQueueDashboard(queues: readonly Queue[]): RequestHandler {
  let router: Promise<Router> | undefined;
  return (req, res, next) => {
    router ??= loadDashboard(queues).catch((err: unknown) => {
      router = undefined; // a failed load is tried again by the next request
      throw err;
    });
    router.then((r) => r(req, res, next), next);
  };
}

async function loadDashboard(queues: readonly Queue[]): Promise<Router> {
  const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }] = await Promise.all([
    import('@bull-board/api'),
    import('@bull-board/api/bullMQAdapter'),
    import('@bull-board/express'),
  ]);
  const server = new ExpressAdapter();
  server.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter: server,
    options: { uiConfig: { boardTitle: 'Slipway queues' } },
  });
  return server.getRouter() as Router;
}
