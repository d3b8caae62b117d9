/** The three hops of a run. Events are planned, builds run tests and images, deploys roll out. */
export const QUEUE_NAMES = { events: 'events', build: 'build', deploy: 'deploy' } as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export interface PlanJob {
  runId: string;
}

export interface BuildJob {
  runId: string;
}

export interface DeployJob {
  runId: string;
  environment: string;
}
