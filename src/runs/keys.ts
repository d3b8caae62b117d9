/** Every Redis key Slipway writes outside BullMQ, in one place. */
export function runKeys(prefix: string) {
  return {
    run: (id: string) => `${prefix}:run:${id}`,
    log: (id: string) => `${prefix}:run:${id}:log`,
    allRuns: `${prefix}:runs`,
    projectRuns: (projectId: number) => `${prefix}:runs:project:${projectId}`,
    /** Runs accepted but not yet picked up by the planner: re-enqueued at start if a crash left them behind. */
    received: `${prefix}:runs:received`,
    delivery: (key: string) => `${prefix}:delivery:${key}`,
    trigger: (key: string) => `${prefix}:trigger:${key}`,
    envLock: (service: string, env: string) => `${prefix}:lock:env:${service}:${env}`,
    /** Semaphores: running build jobs per project, in all, and per resource group. */
    projectSlots: (projectId: number) => `${prefix}:slots:project:${projectId}`,
    globalSlots: `${prefix}:slots:global`,
    groupSlots: (projectId: number, group: string) => `${prefix}:slots:group:${projectId}:${group}`,
    /** The newest run for a project's ref: older ones are auto-canceled. */
    latestOnRef: (projectId: number, ref: string) => `${prefix}:latest:${projectId}:${ref}`,
    /** Set when a run is canceled; running jobs poll it and stop their containers. */
    cancel: (runId: string) => `${prefix}:cancel:${runId}`,
    environment: (service: string, env: string) => `${prefix}:env:${service}:${env}`,
  };
}

export type RunKeys = ReturnType<typeof runKeys>;
