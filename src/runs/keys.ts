import { pipelineRef, type PipelineRequest } from '../triggers/types.js';

/** Every Redis key Slipway writes outside BullMQ, in one place. */
export function runKeys(prefix: string) {
  return {
    run: (id: string) => `${prefix}:run:${id}`,
    log: (id: string) => `${prefix}:run:${id}:log`,
    /** Lines ever appended to the run's log: the list keeps the last 20,000, so line n is at list index n - (count - length). */
    logCount: (id: string) => `${prefix}:run:${id}:log:count`,
    allRuns: `${prefix}:runs`,
    projectRuns: (projectId: number) => `${prefix}:runs:project:${projectId}`,
    /** A project's runs for one ref (the request's branch or tag), for the pipelines list's filter. */
    refRuns: (projectId: number, ref: string) => `${prefix}:runs:ref:${projectId}:${ref}`,
    /** Runs by their current phase: each run is in exactly one, moved by setStatus (score: creation time). */
    phaseRuns: (phase: string) => `${prefix}:runs:phase:${phase}`,
    /** Runs accepted but not yet picked up by the planner: re-enqueued at start if a crash left them behind. */
    received: `${prefix}:runs:received`,
    /** Runs a webhook stored, waiting to be added to the planner's queue (a list; the planner role's feed moves them). */
    planFeed: `${prefix}:runs:to-plan`,
    delivery: (key: string) => `${prefix}:delivery:${key}`,
    trigger: (key: string) => `${prefix}:trigger:${key}`,
    envLock: (service: string, env: string) => `${prefix}:lock:env:${service}:${env}`,
    /** Semaphores: running build jobs per project, in all, and per resource group. */
    projectSlots: (projectId: number) => `${prefix}:slots:project:${projectId}`,
    globalSlots: `${prefix}:slots:global`,
    groupSlots: (projectId: number, group: string) => `${prefix}:slots:group:${projectId}:${group}`,
    /**
     * The newest run for a project's pipeline ref: older ones are auto-canceled. By the pipeline
     * ref (refs/heads/x, refs/merge-requests/7/head), so a merge request's pipeline and its
     * branch's never cancel each other, as in GitLab.
     */
    latestOnRef: (req: Pick<PipelineRequest, 'project' | 'event' | 'ref' | 'mergeRequest'>) => `${prefix}:latest:${req.project.id}:${pipelineRef(req)}`,
    /** A deploy job's canary waiting at a `pause: {}` for an approval: which step, its deadline, the decision once made. */
    canaryPause: (runId: string, job: string) => `${prefix}:canary-pause:${runId}:${job}`,
    /** Canaries waiting at a `pause: {}` for a decision (member `<run>:<job>`, score: since when): the approvals inbox and slipway_approvals_waiting. */
    canaryPausesWaiting: `${prefix}:canary-pauses:waiting`,
    /** Set when a run is canceled; running jobs poll it and stop their containers. */
    cancel: (runId: string) => `${prefix}:cancel:${runId}`,
    /** An image pushed for a build fingerprint (commit + build settings): later runs reuse it. */
    builtImage: (projectId: number, fingerprint: string) => `${prefix}:image:${projectId}:${fingerprint}`,
    /** One build per fingerprint at a time: a second run waits, then reuses the first one's image. */
    imageSlots: (projectId: number, fingerprint: string) => `${prefix}:slots:image:${projectId}:${fingerprint}`,
    /** The last deployment of a service to an environment (which run, created when): older deploys are superseded. */
    environment: (service: string, env: string) => `${prefix}:env:${service}:${env}`,
    /** Deploy jobs waiting for an approval (member `<run>:<job>`, score: since when), for slipway_approvals_waiting. */
    approvalsWaiting: `${prefix}:approvals:waiting`,
    /** Projects Slipway reconciles with GitLab: those it has had webhooks from, and configured ones. */
    knownProjects: `${prefix}:projects:known`,
    /** What the reconciler knows of one project: when webhooks came, branch heads seen, problems. */
    projectWatch: (projectId: number) => `${prefix}:project:${projectId}:watch`,
    /** Something done at most once (a chat notification per run, channel and event). */
    once: (key: string) => `${prefix}:once:${key}`,
    /** The answer to the last command from a merge request's comments, shown in Slipway's MR note. */
    mrCommand: (projectId: number, iid: number) => `${prefix}:mr-command:${projectId}:${iid}`,
  };
}

export type RunKeys = ReturnType<typeof runKeys>;
