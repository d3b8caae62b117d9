import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Queue } from 'bullmq';
import type { Router } from 'express';

export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/**
 * bull-board's dashboard of Slipway's queues, read-only: retrying, promoting or removing a queue
 * job behind Slipway's back would leave its run record saying something else. The caller mounts it
 * at QUEUE_DASHBOARD_PATH behind the API token.
 */
export function createQueueDashboard(queues: readonly Queue[]): Router {
  const server = new ExpressAdapter();
  server.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter: server,
    options: { uiConfig: { boardTitle: 'Slipway queues' } },
  });
  return server.getRouter() as Router;
}
