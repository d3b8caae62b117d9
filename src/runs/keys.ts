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
    environment: (service: string, env: string) => `${prefix}:env:${service}:${env}`,
  };
}

export type RunKeys = ReturnType<typeof runKeys>;
