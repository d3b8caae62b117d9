import type { ReconcileConfig } from '../config/config.js';
import type { ReconcileDeps } from './reconcile-project.js';
import { reconcileProject } from './reconcile-project.js';

export interface Reconciler {
  /** One pass over every known project now (what the timer runs). Never throws; failures are logged per project. */
  runOnce(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Reconciles every project Slipway knows (webhooks came from it, or SLIPWAY_RECONCILE_PROJECTS
 * names it) with GitLab: once at start, then every `everyMs`. Passes never overlap in one process;
 * a project that fails (GitLab down, project gone) is logged and tried again next pass.
 */
export function startReconciler(deps: Omit<ReconcileDeps, 'branches' | 'silentAfterMs'>, config: ReconcileConfig): Reconciler {
  const full: ReconcileDeps = { ...deps, branches: config.branches, silentAfterMs: config.silentAfterMs };
  let current: Promise<void> | undefined;
  let stopped = false;

  const pass = async () => {
    for (const id of config.projects) await deps.watch.ensureKnown(id);
    for (const id of await deps.watch.known()) {
      if (stopped) return;
      try {
        await reconcileProject(full, id);
      } catch (err) {
        deps.logger.warn({ project: id, err: err instanceof Error ? err.message : String(err) }, 'could not reconcile the project with GitLab');
      }
    }
  };
  const runOnce = () => {
    current ??= pass()
      .catch((err: unknown) => deps.logger.warn({ err }, 'reconcile pass failed'))
      .finally(() => {
        current = undefined;
      });
    return current;
  };

  const timer = config.everyMs > 0 ? setInterval(() => void runOnce(), config.everyMs) : undefined;
  if (config.everyMs > 0) void runOnce();
  return {
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await current;
    },
  };
}
