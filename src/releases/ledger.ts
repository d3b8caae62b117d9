import type { Manifest, ReleaseSpec } from '../deploy/deploy-target.js';
import type { DeployRecorded, ReleaseLedger } from '../deploy/release-ledger.js';
import type { ReleaseHistories } from './release-history.js';
import { pausedReason } from './types.js';

/** Pure: the ConfigMap a Kubernetes release mounts (its name changes with its data), else null. */
export function configRevisionOf(spec: ReleaseSpec): string | null {
  const cm = spec.kubernetes?.manifests.find((m: Manifest) => m.apiVersion === 'v1' && m.kind === 'ConfigMap');
  return cm?.metadata.name ?? null;
}

/** The deploy job's view of the release history (`deploy/release-ledger.ts`). */
export function createReleaseLedger(histories: ReleaseHistories): ReleaseLedger {
  return {
    async recordDeploy(r: DeployRecorded) {
      const { spec } = r;
      await histories.of(spec.service, spec.environment).add(
        {
          kind: r.kind,
          service: spec.service,
          environment: spec.environment,
          target: r.target,
          project: r.project,
          runId: spec.runId,
          sha: r.sha,
          image: spec.image,
          digest: r.digest,
          configRevision: configRevisionOf(spec),
          clusters: [...(spec.kubernetes?.clusters ?? [])],
          url: r.url,
          by: 'pipeline',
          at: new Date().toISOString(),
          reason: r.reason,
          outcome: r.outcome,
          detail: r.detail,
          rollbackTo: null,
          timeoutMs: r.timeoutMs,
          log: [],
        },
        spec,
      );
    },

    async pausedReason(service, environment) {
      const pause = await histories.of(service, environment).pause();
      return pause ? pausedReason(pause, service, environment) : null;
    },
  };
}
