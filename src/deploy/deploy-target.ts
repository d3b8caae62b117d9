/**
 * The deploy-target seam: where a service's releases run. Implementations: the Docker host with
 * blue/green slots (`docker-target.ts`) and Kubernetes clusters (`src/kubernetes/kubernetes-target.ts`:
 * server-side apply, kubectl's rollout rules, `rollout undo`; it imports this seam, never the other way). The deploy job (`run-deploy-job.ts`, through `rollOut()` in `roll-out.ts`) is the
 * only caller, and it calls while holding the (service, environment) lock, so no two calls for one
 * environment interleave; it never calls `apply` for a run older than the environment's last
 * successful deploy (`newest-wins.ts`). Every call has its own deadline; none waits forever.
 *
 * The steps, as a deploy uses them: `apply` starts the new release next to the live one,
 * `waitForVerdict` waits until it is healthy (and then makes it the only one serving) or the
 * deadline passes, `rollBack` puts back what served before `apply` after a bad verdict, and
 * `describe` says what runs now. A target that places a release in several places in steps
 * (Kubernetes: its clusters, in waves) also has `rollOut`, which the deploy job then uses instead
 * of the three steps; `apply`, `waitForVerdict` and `rollBack` still work, on every place at once.
 */
export interface DeployTarget {
  readonly kind: DeployTargetKind;

  /**
   * Renders the release from the deploy template, before anything is applied. Targets without it
   * get the docker host's template (one file giving the command and environment, rendered by the
   * deploy job). Kubernetes: the repository's manifests or the built-in set, rendered into parsed
   * YAML and validated. Reads only (the repository at the run's commit, built-in templates);
   * touches no cluster. A template that cannot be found or is invalid is `{ ok: false }` with every
   * problem in `reason`, and nothing is applied.
   */
  prepare?(request: ReleaseRequest): Promise<PreparedRelease>;

  /**
   * Starts `spec` next to the live release, which keeps serving. May run twice: applying a run
   * whose release is already live starts nothing and returns `alreadyLive: true`; a retry after a
   * crash finds the half-done release of the earlier attempt and replaces it. Leaves behind a
   * started (not yet verdicted) release, or, when it throws, nothing new: a release that could not
   * start is removed before the error (a `DeployFailedError` with its last log lines) is thrown.
   */
  apply(spec: ReleaseSpec, onLog: (line: string) => void): Promise<AppliedRelease>;

  /**
   * Waits until `release` is healthy or `timeoutMs` has passed, and says which. Docker: GET
   * `spec.healthPath` on the release's address answers 2xx while its container keeps running (a
   * crash is a verdict at once, with the exit code). Kubernetes: the Deployment's rollout is
   * complete by kubectl's rules. On a healthy verdict the release is made the live one and the
   * previous release is retired, so afterwards only the new one serves. On an unhealthy verdict
   * nothing is changed: the caller decides (`rollBack`). May run twice (a healthy release stays
   * healthy). Rejects only when it can neither give a verdict nor finish the switch (the target
   * cannot be reached); nothing is undone then and the caller does not roll back.
   */
  waitForVerdict(release: AppliedRelease, opts: { timeoutMs: number; onLog: (line: string) => void } & PromotionGates): Promise<Verdict>;

  /**
   * Undoes `apply` after an unhealthy verdict: what served before serves on (Docker: the new
   * container is removed, the old one never stopped; Kubernetes: back to the previous revision).
   * Idempotent: a second call, or one after a crash half-way, finds nothing left to undo. Does
   * nothing for an `alreadyLive` release.
   */
  rollBack(release: AppliedRelease, onLog: (line: string) => void): Promise<void>;

  /**
   * Optional: the whole rollout of `spec` over the target's places, in steps (Kubernetes: the first
   * cluster, then, once it is healthy, the others in parallel), each place with its own verdict, and
   * the environment's policy for a place that fails or cannot be reached (roll every place back, or
   * keep the healthy ones). When present, `rollOut()` (roll-out.ts) calls it instead of apply →
   * waitForVerdict → rollBack. Same rules as those: one call at a time per environment, may run
   * twice (a retry finds the places where this run is already live healthy), every wait within
   * `timeoutMs` (rollbacks wait on their own deadlines). Resolves with what happened in each place;
   * rejects only when no place could be tried at all (e.g. a cluster that is not configured).
   */
  rollOut?(spec: ReleaseSpec, opts: { timeoutMs: number; onLog: (line: string) => void } & PromotionGates): Promise<RolloutReport>;

  /** What serves (service, environment) now, or null when nothing does. Reads only; any caller. */
  describe(service: string, environment: string): Promise<RunningRelease | null>;

  /**
   * Canary steps, on targets that can split traffic between two releases (the Docker host through
   * its front proxy). Absent: the target cannot run a canary. `canary-roll-out.ts` is the caller;
   * `rollBack` is the abort (all traffic back to the live release, the canary removed).
   */
  readonly canary?: CanaryControl;
}

/** The canary's steps on a target; each may run twice with the same result. */
export interface CanaryControl {
  /**
   * Optional: starts `spec` as the canary beside the live (stable) release, with no traffic yet
   * (Kubernetes: a `<name>-canary` Deployment at 0 replicas). Absent: the target's `apply` does. A
   * release with no stable one to compare with (or already live) starts nothing and says so with
   * `alreadyLive` / no `replaces`; the canary runner then rolls it out as usual.
   */
  start?(spec: ReleaseSpec, onLog: (line: string) => void): Promise<AppliedRelease>;
  /** Optional: the abort (all traffic back to stable, the canary removed). Absent: the target's `rollBack` is. */
  abort?(release: AppliedRelease, onLog: (line: string) => void): Promise<void>;
  /** Waits until the started release is healthy, or `timeoutMs` passes, without sending it traffic or retiring anything. */
  waitHealthy(release: AppliedRelease, opts: { timeoutMs: number; onLog: (line: string) => void }): Promise<Verdict>;
  /** Sends `weight` percent of the requests to `release` and the rest to the live release; resolves once that is what serves (waiting at most `timeoutMs` for the canary to be ready, where it waits). */
  setWeight(release: AppliedRelease, weight: number, onLog: (line: string) => void, timeoutMs?: number): Promise<void>;
  /** Is the canary still healthy? Gives a failing health endpoint a few seconds before saying no; a crash is a no at once. */
  check(release: AppliedRelease): Promise<Verdict>;
  /** The end of a canary: all traffic to `release`, which becomes the live one, and the previous release retired, within `timeoutMs` where it waits. */
  promote(release: AppliedRelease, onLog: (line: string) => void, timeoutMs?: number): Promise<void>;
}

export type DeployTargetKind = 'docker' | 'kubernetes';

/** The new side of a blue-green deploy, as a promotion gate's analysis may name it. */
export interface PromotionSide {
  /** The new side's slot, `blue` or `green` (Kubernetes: its pods' `slipway.dev/slot` label; Docker: its slot). */
  slot: string;
  /** Kubernetes: the preview Service that selects the new side (`<svc>-preview`). */
  previewService?: string;
}

/** A gate around a blue-green switch (Argo Rollouts' pre/postPromotionAnalysis); an unhealthy verdict stops the deploy with its reason. */
export type PromotionGate = (side: PromotionSide) => Promise<Verdict>;

/**
 * Blue-green's gates, for the targets that switch: `prePromotion` runs once the new side is ready
 * and before the switch (the previous side still serves everything; failing, the switch never
 * happens and the new side is removed), `postPromotion` right after the switch while the previous
 * side is still up (failing, the switch is undone). Docker honours `prePromotion` only (it removes
 * the previous release at the switch); Kubernetes both. Other strategies ignore them.
 */
export interface PromotionGates {
  prePromotion?: PromotionGate;
  postPromotion?: PromotionGate;
}

/** One release, as rendered from the deploy template. */
export interface ReleaseSpec {
  service: string;
  environment: string;
  /** Preferably by digest (host/repo@sha256:...); pulled when the target does not have it. */
  image: string;
  command?: string[];
  env: Record<string, string>;
  /** The port the service listens on (`PORT`); the docker target's blue slot, green is port+1. */
  port: number;
  /** Path whose 2xx answer means healthy. */
  healthPath: string;
  /**
   * Docker: the port of the fixed address the front proxy (nginx) listens on for this service and
   * environment; absent, clients reach the release on its slot port. Other targets ignore it.
   */
  frontProxyPort?: number;
  /** The run that produced this release; its identity on the target. */
  runId: string;
  /**
   * Kubernetes: the rendered and validated objects of the release (`src/kubernetes/render.ts`) and the
   * clusters (by configured name) they go to; empty `clusters` means the only configured one.
   */
  kubernetes?: {
    manifests: readonly Manifest[];
    clusters: readonly string[];
    /** The environment's cluster weights (every cluster has one, or this is absent: split by free capacity). */
    weights?: Readonly<Record<string, number>>;
    /** What happens when a cluster fails or cannot be reached (absent: `rollback-all`). */
    onClusterFailure?: ClusterFailurePolicy;
    /** Blue-green: a second Deployment, the active Service switched once it is Ready; absent: a rolling update. */
    blueGreen?: { scaleDownDelayMs: number };
    /** A canary's traffic router besides the replica ratio (nginx-ingress: a second Ingress with its canary annotations). */
    trafficRouter?: TrafficRouter;
  };
}

export type TrafficRouter = 'nginx-ingress';

/** How Kubernetes replaces a release, from the pipeline file's `strategy:` (rolling is written onto each Deployment). */
export type KubernetesStrategy =
  | { type: 'rolling'; maxSurge?: number | string; maxUnavailable?: number | string }
  | { type: 'blue-green'; scaleDownDelayMs?: number }
  | { type: 'canary' };

/**
 * `rollback-all`: every cluster that got the release goes back to what it ran before (the environment
 * stays on one release). `keep-healthy`: healthy clusters keep the new release; only the failed ones
 * go back (where they can be reached).
 */
export type ClusterFailurePolicy = 'rollback-all' | 'keep-healthy';
export const CLUSTER_FAILURE_POLICIES: readonly ClusterFailurePolicy[] = ['rollback-all', 'keep-healthy'];

/** A Kubernetes object as Slipway applies it: plain JSON with the identifying fields checked. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

/** The repository at the run's commit, as `prepare` reads it. */
export interface ReleaseFiles {
  /** A file's text, or null when it does not exist. */
  file(path: string): Promise<string | null>;
  /** The files directly in a directory whose names `accept` takes (path → text), or null when the directory does not exist. */
  dir(path: string, accept: (name: string) => boolean): Promise<{ name: string; text: string }[] | null>;
}

/** What `prepare` renders a release from: the deploy job's settings for one environment. */
export interface ReleaseRequest {
  /** The pipeline file's `template:` (a built-in name or a path in the repository). */
  template: string;
  /** The release without its rendered parts (`env` empty, no `command`, no `kubernetes`). */
  base: ReleaseSpec;
  commitSha: string;
  /** The run's page, written onto what is applied. */
  runUrl: string;
  /** The environment's `clusters:`, by configured name. */
  clusters: readonly string[];
  /** The environment's cluster weights, when its `clusters:` gives them. */
  clusterWeights?: Readonly<Record<string, number>>;
  /** The environment's `on_cluster_failure:`, when set. */
  onClusterFailure?: ClusterFailurePolicy;
  /** The environment's strategy (Kubernetes: rollingUpdate pace, blue-green, canary). */
  strategy?: KubernetesStrategy;
  /** The environment's `traffic_router:`, when set. */
  trafficRouter?: TrafficRouter;
  /** The environment's `variables:` from the pipeline file. */
  variables: Record<string, string>;
  /** Project variables for this environment: template values only. */
  secrets: Record<string, string>;
  repo: ReleaseFiles;
}

/** A rendered release, with what it was rendered from (`source`, for the job's log), or why it could not be. */
export type PreparedRelease = { ok: true; spec: ReleaseSpec; source?: string } | { ok: false; reason: string };

export interface AppliedRelease {
  spec: ReleaseSpec;
  /** Where the new release answers. */
  url: string;
  /** Where clients reach the service when that is not `url` (the Docker host's front proxy: one fixed address). */
  address?: string;
  /** The target's own name for what it started (Docker: the container id). */
  id: string;
  /** The run whose release this one replaces once healthy, when one was live. */
  replaces?: string;
  /** This run's release was already live: nothing was started, and its verdict is healthy. */
  alreadyLive: boolean;
  /** Per place (Kubernetes: per cluster), what happened; set by targets that roll out with `rollOut`. */
  places?: readonly PlaceResult[];
}

/**
 * Where one place (a cluster) ended up: `healthy` runs the new release; `rolled-back` went back to
 * what it ran before; `failed` did not become healthy and was not rolled back (nothing to go back
 * to, or the rollback failed); `unreachable` did not answer (retried) — `reason` says whether
 * anything was applied; `not-applied` was never touched (an earlier wave failed).
 */
export type PlaceState = 'healthy' | 'rolled-back' | 'failed' | 'unreachable' | 'not-applied';

export interface PlaceResult {
  name: string;
  state: PlaceState;
  /** Why it is not healthy, or why it was rolled back. */
  reason?: string;
  /** 1 for the first wave, 2 for the rest. */
  wave: number;
  /** Replicas of its Deployments' share, when the release's replicas were split across places. */
  replicas?: number;
}

/**
 * What `rollOut` did. `healthy`: every place runs the new release. `partial`: some places run it
 * and were kept (policy `keep-healthy`), the others did not. `failed`: no place runs it.
 */
export type RolloutReport<R extends AppliedRelease = AppliedRelease> =
  | { outcome: 'healthy'; release: R }
  | {
      outcome: 'partial' | 'failed';
      reason: string;
      lastLogs: readonly string[];
      places: readonly PlaceResult[];
      /** The run whose release was live before this one (what a rolled-back place runs again). */
      replaces?: string;
    };

export type Verdict = { healthy: true } | { healthy: false; reason: string; lastLogs: readonly string[] };

/** What `describe` reports. */
export interface RunningRelease {
  /** The run that produced the release. */
  runId: string;
  /** The image reference it runs, as deployed. */
  image: string;
  /** The image's registry digest (sha256:...), when it was deployed by digest. */
  digest?: string;
  /** Where it answers. */
  url: string;
}
