import {
  ApiException,
  AppsV1Api,
  CoreV1Api,
  createConfiguration,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  ServerConfiguration,
  Watch,
  type KubernetesObject,
  type Middleware,
} from '@kubernetes/client-node';

/** Slipway's field manager for server-side apply: what `kubectl get -o yaml --show-managed-fields` names. */
export const FIELD_MANAGER = 'slipway';
const REQUEST_TIMEOUT_MS = 30_000;
const ATTEMPTS = 3;

/**
 * One cluster's clients. Each cluster has its own KubeConfig: a client made from a shared one sends
 * the *current* context's credentials, so switching contexts would send one cluster's token to
 * another. Every request has a timeout (aborted, not just abandoned).
 */
export interface ClusterClient {
  readonly name: string;
  /** Where objects without metadata.namespace go: the kubeconfig context's namespace, else `default`. */
  readonly namespace: string;
  readonly server: string;
  readonly kc: KubeConfig;
  readonly apps: AppsV1Api;
  readonly core: CoreV1Api;
  readonly objects: KubernetesObjectApi;
  readonly watch: Watch;
}

/** A cluster from a kubeconfig file: its current context (one file per cluster). */
export function clusterFromKubeconfigFile(name: string, kubeconfigPath: string, requestTimeoutMs = REQUEST_TIMEOUT_MS): ClusterClient {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return clusterFromKubeConfig(name, kc, requestTimeoutMs);
}

export function clusterFromKubeConfig(name: string, kc: KubeConfig, requestTimeoutMs = REQUEST_TIMEOUT_MS): ClusterClient {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error(`cluster ${name}: the kubeconfig has no current context with a cluster`);
  const timeout: Middleware = {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(requestTimeoutMs));
      return Promise.resolve(ctx);
    },
    post: (res) => Promise.resolve(res),
  };
  // As kc.makeApiClient does, plus the timeout.
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [timeout],
  });
  const objects = new KubernetesObjectApi(configuration);
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
  return {
    name,
    namespace,
    server: cluster.server,
    kc,
    apps: new AppsV1Api(configuration),
    core: new CoreV1Api(configuration),
    objects,
    watch: new Watch(kc),
  };
}

/** The HTTP status of a failed call, when the server answered. */
export function statusOf(e: unknown): number | undefined {
  return e instanceof ApiException ? e.code : undefined;
}

/** The `Status` object a failed call carried (client-node 1.x gives the body as text). */
export function statusBody(
  e: unknown,
): { message?: string; reason?: string; details?: { causes?: { reason?: string; message?: string; field?: string }[] } } | undefined {
  if (!(e instanceof ApiException)) return undefined;
  const body: unknown = e.body;
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as ReturnType<typeof statusBody>;
    } catch {
      return { message: body };
    }
  }
  return typeof body === 'object' && body !== null ? (body as ReturnType<typeof statusBody>) : undefined;
}

/** A short reason for a failed call: the server's message, or the transport error. */
export function describeError(e: unknown): string {
  const code = statusOf(e);
  if (code !== undefined) return `${code} ${statusBody(e)?.message ?? 'error'}`;
  if (e instanceof Error) return e.name === 'TimeoutError' || e.name === 'AbortError' ? 'no answer within the request timeout' : e.message;
  return String(e);
}

/** Worth another try: no answer, 429, or a 5xx (not 500 from SSA, which is a refusal of the object). */
function transient(e: unknown): boolean {
  const code = statusOf(e);
  if (code === undefined) return true;
  return code === 429 || code === 502 || code === 503 || code === 504;
}

/**
 * The cluster's API server did not answer (refused, reset, no answer within the request timeout) or
 * answered that it is unavailable (502, 503, 504), on every attempt: what the multi-cluster policy
 * treats as an unreachable cluster rather than a failed release.
 */
export class ClusterUnreachableError extends Error {
  override readonly name = 'ClusterUnreachableError';
}

function unavailable(e: unknown): boolean {
  const code = statusOf(e);
  return code === undefined || code === 502 || code === 503 || code === 504;
}

/**
 * Runs an idempotent call with bounded retries on transient failures (3 attempts, 0.5 s then 1 s
 * apart). When the server never answered, the error is a `ClusterUnreachableError`.
 */
export async function retrying<T>(what: string, call: () => Promise<T>): Promise<T> {
  let last: unknown;
  let attempts = 0;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    attempts = attempt;
    try {
      return await call();
    } catch (e) {
      last = e;
      if (!transient(e) || attempt === ATTEMPTS) break;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
  if (attempts === ATTEMPTS && unavailable(last)) {
    throw new ClusterUnreachableError(`${what}: ${describeError(last)} (${ATTEMPTS} attempts)`, { cause: last });
  }
  throw new Error(`${what}: ${describeError(last)}`, { cause: last });
}

/** Whether an error from a cluster call means the cluster could not be reached. */
export function isUnreachable(e: unknown): boolean {
  return e instanceof ClusterUnreachableError;
}

/** Another field manager owns a field this apply would change. */
export class ApplyConflictError extends Error {
  override readonly name = 'ApplyConflictError';
  constructor(
    readonly object: string,
    readonly conflicts: readonly { field: string; manager: string }[],
  ) {
    super(
      `${object}: server-side apply conflict, not forced: ${conflicts.map((c) => `${c.field} is managed by "${c.manager}"`).join('; ')}` +
        ' (change the value back, or make Slipway the owner: kubectl apply --server-side --force-conflicts --field-manager=slipway)',
    );
  }
}

function nameOf(obj: KubernetesObject): string {
  return `${obj.kind ?? '?'} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name ?? '?'}`;
}

/**
 * Server-side apply as field manager `slipway`, never forced: a field another manager owns with a
 * different value is an `ApplyConflictError` naming the field and the manager. Retried on transient
 * failures (an apply is idempotent).
 */
export async function serverSideApply<T extends KubernetesObject>(cluster: ClusterClient, obj: T): Promise<T> {
  try {
    return await retrying(`${cluster.name}: apply ${nameOf(obj)}`, () =>
      cluster.objects.patch(obj, undefined, undefined, FIELD_MANAGER, false, PatchStrategy.ServerSideApply),
    );
  } catch (e) {
    const cause = e instanceof Error ? e.cause : undefined;
    if (statusOf(cause) === 409) {
      const causes = statusBody(cause)?.details?.causes ?? [];
      const conflicts = causes.map((c) => ({ field: c.field ?? '?', manager: /conflict with "([^"]*)"/.exec(c.message ?? '')?.[1] ?? c.message ?? '?' }));
      throw new ApplyConflictError(
        `${cluster.name}: ${nameOf(obj)}`,
        conflicts.length > 0 ? conflicts : [{ field: '?', manager: statusBody(cause)?.message ?? '?' }],
      );
    }
    throw e;
  }
}
