/**
 * The executor seam (Woodpecker's `Backend` idea): the build worker turns a
 * planned job into steps and hands each step to one Executor. Implementations:
 * docker (a container per step) and kubernetes (a Pod per step, `pod-executor/`).
 *
 * Contract for every implementation:
 * - Caller: the build worker (script and sonar jobs), once per step attempt.
 *   A retried job calls runStep again with a NEW `id` (run+job+attempt), but
 *   a crashed worker may leave a container behind under the same id, so
 *   runStep must tolerate a leftover of the same name (remove it, never fail
 *   on a name conflict).
 * - May it run twice? Yes. A step is a script from the repository; the
 *   executor does not make scripts idempotent, it only guarantees that one
 *   runStep call starts at most one process/container.
 * - What it leaves behind: nothing of its own. Once runStep settles, the
 *   step's container (or process) is gone on every outcome: exit, timeout,
 *   cancel, or a rejection after it was created; if that removal itself
 *   fails, runStep rejects rather than report a result over a leftover.
 *   Files the step wrote stay only in the `mounts` the caller gave it
 *   (the work tree, caches). Lines reach `onLog` in order while the step
 *   runs; runStep waits a bounded moment for the log stream to drain
 *   before it settles.
 * - runStep resolves with a StepResult for every outcome of the step itself
 *   (non-zero exit, timeout, cancel). It rejects only when the step could not
 *   be run at all (image missing, engine unreachable): that is an
 *   infrastructure error, which the caller may retry.
 * - Event data (branch names, MR titles, ...) only ever reaches a step via
 *   `env`, never spliced into `argv`: argv is fixed repo content.
 */

export interface Mount {
  source: string;
  target: string;
  readOnly?: boolean;
}

export interface StepSpec {
  /** Unique per run+job+attempt; names the container `slipway-step-<id>` (sanitized to [a-z0-9_.-]). */
  id: string;
  image: string;
  /** e.g. ['/bin/sh', '-c', script]; the script is repo content, event data only arrives via env. */
  argv: string[];
  env: Record<string, string>;
  workdir: string;
  mounts: Mount[];
  timeoutMs: number;
  network: 'host' | 'none';
  /** Executors always add io.slipway.managed=true (used to find and reap our containers). */
  labels: Record<string, string>;
  /** The job's `resources:`: requests (guaranteed, scheduled by) and limits (not exceeded). */
  resources?: StepResources;
}

export interface StepAmounts {
  cpuMillis?: number;
  memoryBytes?: number;
}

export interface StepResources {
  requests?: StepAmounts;
  limits?: StepAmounts;
}

export interface StepResult {
  exitCode: number;
  timedOut: boolean;
  canceled: boolean;
  durationMs: number;
}

/** Called once per complete line (without the trailing newline), in the order written. */
export type LogSink = (line: string, stream: 'stdout' | 'stderr') => void;

export interface Executor {
  runStep(spec: StepSpec, onLog: LogSink, signal?: AbortSignal): Promise<StepResult>;
}

/** Label every Slipway container carries, so cleanup can find all of them. */
export const MANAGED_LABEL = 'io.slipway.managed';
