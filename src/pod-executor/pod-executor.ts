import { Writable } from 'node:stream';
import { Log, type V1ContainerStatus, type V1Pod } from '@kubernetes/client-node';
import { PermanentError } from '../errors/errors.js';
import { ImageNotFoundError } from '../executors/docker-errors.js';
import { createLineSplitter } from '../executors/line-splitter.js';
import type { Executor, LogSink, StepResult, StepSpec } from '../executors/types.js';
import { describeError, statusOf, type ClusterClient } from '../kubernetes/cluster.js';
import { execInPod } from './pod-exec.js';
import { helperPath, INBOX_CONTAINER, OUTBOX_CONTAINER, READY_FILE, STEP_CONTAINER, toStepObjects, type StepObjects } from './pod-spec.js';
import { copyIntoPod, copyOutOfPod } from './workspace-copy.js';

export interface PodExecutorOptions {
  /** Where step Pods are created (the Slipway build node's service account needs pods, pods/exec, pods/log, secrets, networkpolicies there). */
  namespace: string;
  /** An image with sh, tar, head, touch and sleep (busybox): copies the work tree in and out. */
  helperImage: string;
  /** Bound on scheduling and pulling the helper image, until the copy-in can start. */
  startTimeoutMs?: number;
  /** Bound on each copy of the work tree into or out of the Pod. */
  copyTimeoutMs?: number;
  /** How often the Pod's status is read while waiting. */
  pollMs?: number;
}

// Waiting reasons after which the container will never start by itself.
const IMAGE_FAILURES = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'ErrImageNeverPull']);
const CONFIG_FAILURES = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);
// Log lines may still be in flight when the exit code is known.
const LOG_DRAIN_MS = 5_000;
// How long the deleted Pod may take to disappear from the API before runStep reports a leftover.
const DELETE_WAIT_MS = 30_000;

/**
 * The Kubernetes executor: one Pod per step (see pod-spec.ts for its shape, docs/decisions.md for
 * why). The work tree of each mount is copied into the Pod before the step starts and back out
 * after it ends, so the caller sees the files as a bind mount would have left them; on a timeout
 * or cancel the Pod is deleted at once and nothing is copied back.
 */
export function createPodExecutor(cluster: ClusterClient, options: PodExecutorOptions): Executor {
  const opts = {
    startTimeoutMs: options.startTimeoutMs ?? 300_000,
    copyTimeoutMs: options.copyTimeoutMs ?? 300_000,
    pollMs: options.pollMs ?? 250,
  };
  const { namespace, helperImage } = options;
  const core = cluster.core;

  async function readPod(name: string): Promise<V1Pod | undefined> {
    try {
      return await core.readNamespacedPod({ name, namespace });
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw new Error(`${cluster.name}: read pod ${namespace}/${name}: ${describeError(e)}`, { cause: e });
    }
  }

  /** Deletes the Pod (its Secret and NetworkPolicy go with it) and waits until the API no longer has it. */
  async function removePod(name: string): Promise<void> {
    const gone = (e: unknown) => {
      if (statusOf(e) !== 404) throw new Error(`${cluster.name}: delete ${namespace}/${name}: ${describeError(e)}`, { cause: e });
    };
    await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 }).catch(gone);
    // Owned by the Pod, but the garbage collector is asynchronous: delete them now as well.
    await core.deleteNamespacedSecret({ name, namespace }).catch(gone);
    const deadline = Date.now() + DELETE_WAIT_MS;
    while ((await readPod(name)) !== undefined) {
      if (Date.now() > deadline) throw new Error(`${cluster.name}: pod ${namespace}/${name} still exists ${DELETE_WAIT_MS}ms after its deletion`);
      await sleep(opts.pollMs);
    }
  }

  async function createObjects(objects: StepObjects): Promise<void> {
    let uid: string | undefined;
    try {
      // Not retried: a create is not idempotent, and a failure here is reported to BullMQ, which retries the job.
      uid = (await core.createNamespacedPod({ namespace, body: objects.pod })).metadata?.uid;
      if (!uid) throw new Error('the API server returned the pod without a uid');
      await core.createNamespacedSecret({ namespace, body: objects.secret(uid) });
      if (objects.networkPolicy) await cluster.objects.create(objects.networkPolicy(uid));
    } catch (e) {
      const code = statusOf(e);
      const why = `${cluster.name}: creating step pod ${namespace}/${objects.name}: ${describeError(e)}`;
      // 422: the API server refused the spec (a bad resource quantity, an image name): retrying cannot help.
      throw code === 422 || code === 400 ? new PermanentError(why, { cause: e }) : new Error(why, { cause: e });
    }
  }

  async function runStep(spec: StepSpec, onLog: LogSink, signal?: AbortSignal): Promise<StepResult> {
    if (signal?.aborted) return { exitCode: -1, timedOut: false, canceled: true, durationMs: 0 };
    let objects: StepObjects;
    try {
      objects = toStepObjects(spec, namespace, helperImage);
    } catch (e) {
      throw new PermanentError(e instanceof Error ? e.message : String(e));
    }
    // A crashed attempt of this same id may have left its Pod behind.
    await removePod(objects.name);
    await createObjects(objects);
    try {
      return await runInPod(objects.name, spec, onLog, signal);
    } finally {
      await removePod(objects.name);
    }
  }

  async function runInPod(name: string, spec: StepSpec, onLog: LogSink, signal: AbortSignal | undefined): Promise<StepResult> {
    const canceledResult = (started: number): StepResult => ({ exitCode: -1, timedOut: false, canceled: true, durationMs: Date.now() - started });
    const at = (container: string) => ({ namespace, pod: name, container });

    // 1. Scheduled and the helper running: the work tree can be copied in.
    const startBy = Date.now() + opts.startTimeoutMs;
    let lastWhy = 'not scheduled yet';
    for (;;) {
      if (signal?.aborted) return canceledResult(Date.now());
      const pod = await readPod(name);
      if (!pod) throw new Error(`${cluster.name}: step pod ${namespace}/${name} disappeared before its step started`);
      failOnStuckContainer(pod, spec.image, helperImage);
      if (status(pod.status?.initContainerStatuses, INBOX_CONTAINER)?.state?.running) break;
      if (pod.status?.phase === 'Failed') {
        throw new Error(`${cluster.name}: step pod ${namespace}/${name} failed before its step: ${pod.status.reason ?? ''} ${pod.status.message ?? ''}`.trim());
      }
      lastWhy = podWaitingReason(pod) ?? lastWhy;
      if (Date.now() > startBy) throw new Error(`${cluster.name}: step pod ${namespace}/${name} did not start within ${opts.startTimeoutMs}ms: ${lastWhy}`);
      await sleep(opts.pollMs);
    }
    for (const [i, m] of spec.mounts.entries()) await copyIntoPod(cluster.kc, at(INBOX_CONTAINER), m.source, helperPath(i), opts.copyTimeoutMs);
    const ready = await execInPod(cluster.kc, at(INBOX_CONTAINER), ['touch', READY_FILE], { timeoutMs: 30_000, what: `starting the step in ${name}` });
    if (ready.exitCode !== 0) throw new Error(`${cluster.name}: starting the step in ${name}: exit ${ready.exitCode}: ${ready.stderr}`);

    // 2. The step: logs followed once its container runs, the exit code read from the Pod's status.
    const started = Date.now();
    const timeoutAt = started + spec.timeoutMs;
    const out = createLineSplitter((line) => onLog(line, 'stdout'));
    let logs: { abort: AbortController; drained: Promise<void> } | undefined;
    let logError: string | undefined;
    try {
      for (;;) {
        if (signal?.aborted) return canceledResult(started);
        if (Date.now() >= timeoutAt) return { exitCode: -1, timedOut: true, canceled: false, durationMs: Date.now() - started };
        const pod = await readPod(name);
        if (!pod) throw new Error(`${cluster.name}: step pod ${namespace}/${name} disappeared while its step ran`);
        if (pod.status?.phase === 'Failed' && pod.status.reason === 'DeadlineExceeded') {
          return { exitCode: -1, timedOut: true, canceled: false, durationMs: Date.now() - started };
        }
        failOnStuckContainer(pod, spec.image, helperImage);
        const step = status(pod.status?.containerStatuses, STEP_CONTAINER);
        // Asked of the kubelet at once rather than after the Pod's status says "running": that status
        // reaches the API server late on a busy node, and the first lines would arrive with it.
        if (!logs) {
          logs = await followLogs(name, out).catch((e: unknown) => {
            if (step?.state?.terminated) logError = describeError(e);
            return undefined;
          });
        }
        const ended = step?.state?.terminated;
        // A log that cannot be read once the step has ended must not hold back its exit code.
        if (ended && !logs && logError) onLog(`slipway: the step's log could not be read: ${logError}`, 'stderr');
        if (ended && (logs || logError)) {
          if (logs) await Promise.race([logs.drained, sleep(LOG_DRAIN_MS)]);
          out.end();
          for (const [i, m] of spec.mounts.entries()) {
            if (!m.readOnly) await copyOutOfPod(cluster.kc, at(OUTBOX_CONTAINER), helperPath(i), m.source, opts.copyTimeoutMs);
          }
          return { exitCode: ended.exitCode, timedOut: false, canceled: false, durationMs: Date.now() - started };
        }
        if (pod.status?.phase === 'Failed') {
          throw new Error(`${cluster.name}: step pod ${namespace}/${name} failed: ${pod.status.reason ?? ''} ${pod.status.message ?? ''}`.trim());
        }
        await sleep(opts.pollMs);
      }
    } finally {
      logs?.abort.abort();
      out.end();
    }
  }

  /** Follows the step container's log from its start; resolves once the request is answered. */
  async function followLogs(name: string, out: ReturnType<typeof createLineSplitter>): Promise<{ abort: AbortController; drained: Promise<void> }> {
    let finish: () => void = () => undefined;
    const drained = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.write(chunk);
        cb();
      },
      final(cb) {
        finish();
        cb();
      },
    });
    sink.on('close', finish);
    sink.on('error', finish);
    const abort = await new Log(cluster.kc).log(namespace, name, STEP_CONTAINER, sink, { follow: true });
    return { abort, drained };
  }

  return { runStep };
}

function status(list: V1ContainerStatus[] | undefined, name: string): V1ContainerStatus | undefined {
  return list?.find((s) => s.name === name);
}

/** An image that cannot be pulled or a container that cannot be created: rejected, naming it. */
function failOnStuckContainer(pod: V1Pod, stepImage: string, helperImage: string): void {
  for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]) {
    const waiting = s.state?.waiting;
    if (!waiting?.reason) continue;
    const image = s.name === STEP_CONTAINER ? stepImage : helperImage;
    if (IMAGE_FAILURES.has(waiting.reason)) throw new ImageNotFoundError(image, `${waiting.reason}: ${waiting.message ?? ''}`.trim());
    if (CONFIG_FAILURES.has(waiting.reason))
      throw new PermanentError(`container ${s.name} (${image}) cannot start: ${waiting.reason}: ${waiting.message ?? ''}`.trim());
  }
}

/** Why a Pod is not running yet, as `kubectl describe` would show it (e.g. "0/1 nodes are available: 1 Insufficient cpu."). */
function podWaitingReason(pod: V1Pod): string | undefined {
  const unscheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
  if (unscheduled) return `${unscheduled.reason ?? 'unschedulable'}: ${unscheduled.message ?? ''}`.trim();
  const waiting = status(pod.status?.initContainerStatuses, INBOX_CONTAINER)?.state?.waiting;
  return waiting?.reason ? `${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}` : undefined;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
