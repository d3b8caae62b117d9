/** The three hops of a run. Events are planned, builds run tests and images, deploys roll out. */
export const QUEUE_NAMES = { events: 'events', build: 'build', deploy: 'deploy' } as const;
export type QueueName = (typeof QUEUE_NAMES)[keyof typeof QUEUE_NAMES];

export interface PlanJob {
  runId: string;
}

/** One pipeline job of a run (script, image or sonar), by its name in the plan. */
export interface BuildJob {
  runId: string;
  job: string;
}

export interface DeployJob {
  runId: string;
  environment: string;
}

/** A rollback on demand, on the deploy queue (job name `rollback`), so it takes the environment lock as deploys do. */
export interface RollbackJob {
  service: string;
  environment: string;
  /** The rollback's entry in the environment's release history. */
  release: number;
}
