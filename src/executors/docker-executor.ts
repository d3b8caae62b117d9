import { Writable } from 'node:stream';
import type Dockerode from 'dockerode';
import { toContainerCreateOptions } from './container-options.js';
import { dockerStatus } from './docker-errors.js';
import { ensureImage, type PullPolicy } from './docker-image.js';
import { createLineSplitter } from './line-splitter.js';
import type { Executor, LogSink, StepResult, StepSpec } from './types.js';

export interface DockerExecutorOptions {
  /** Bound on each short engine call (create, start, kill, remove). */
  apiTimeoutMs?: number;
  pullPolicy?: PullPolicy;
  pullTimeoutMs?: number;
}

// After a kill the engine needs a moment to report the exit; past this grace
// we give up on wait() rather than hang a worker on a stuck engine.
const WAIT_GRACE_MS = 30_000;
// Log frames may still be in flight when wait() returns.
const LOG_DRAIN_MS = 5_000;

export function createDockerExecutor(docker: Dockerode, options: DockerExecutorOptions = {}): Executor {
  const opts = {
    apiTimeoutMs: options.apiTimeoutMs ?? 30_000,
    pullPolicy: options.pullPolicy ?? 'missing',
    pullTimeoutMs: options.pullTimeoutMs ?? 600_000,
  };
  const api = (): AbortSignal => AbortSignal.timeout(opts.apiTimeoutMs);

  async function removeIfPresent(name: string): Promise<void> {
    try {
      await docker.getContainer(name).remove({ force: true, v: true, abortSignal: api() });
    } catch (err) {
      if (dockerStatus(err) !== 404) throw err;
    }
  }

  async function runStep(spec: StepSpec, onLog: LogSink, signal?: AbortSignal): Promise<StepResult> {
    if (signal?.aborted) return { exitCode: -1, timedOut: false, canceled: true, durationMs: 0 };
    const create = toContainerCreateOptions(spec);
    const name = create.name ?? '';
    // A crashed attempt may have left this exact name behind; a retry must not fail on it.
    await removeIfPresent(name);
    await ensureImage(docker, spec.image, {
      policy: opts.pullPolicy,
      apiTimeoutMs: opts.apiTimeoutMs,
      pullTimeoutMs: opts.pullTimeoutMs,
    });
    const container = await docker.createContainer({ ...create, abortSignal: api() });
    try {
      return await attachStartWait(docker, container, spec, onLog, api, signal);
    } finally {
      await container.remove({ force: true, v: true, abortSignal: api() }).catch((err: unknown) => {
        if (dockerStatus(err) !== 404) throw err;
      });
    }
  }

  return { runStep };
}

async function attachStartWait(
  docker: Dockerode,
  container: Dockerode.Container,
  spec: StepSpec,
  onLog: LogSink,
  api: () => AbortSignal,
  signal: AbortSignal | undefined,
): Promise<StepResult> {
  const out = createLineSplitter((line) => onLog(line, 'stdout'));
  const err = createLineSplitter((line) => onLog(line, 'stderr'));
  const sink = (s: ReturnType<typeof createLineSplitter>): Writable =>
    new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        s.write(chunk);
        cb();
      },
    });

  // Attach before start so the first lines are never lost.
  const logAbort = new AbortController();
  const stream = await container.attach({ stream: true, stdout: true, stderr: true, abortSignal: logAbort.signal });
  const drained = new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
  });
  docker.modem.demuxStream(stream, sink(out), sink(err));

  let timedOut = false;
  let canceled = false;
  const kill = (): void => {
    // 409 "not running" just means it already exited: nothing to do.
    container.kill({ abortSignal: api() }).catch(() => undefined);
  };
  const onAbort = (): void => {
    canceled = true;
    kill();
  };
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await container.start({ abortSignal: api() });
    timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, spec.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    // The abort may have fired while start() was in flight, before we listened.
    if (signal?.aborted && !canceled) onAbort();
    const waited = (await container.wait({
      abortSignal: AbortSignal.timeout(spec.timeoutMs + WAIT_GRACE_MS),
    })) as { StatusCode: number };
    await Promise.race([drained, new Promise((r) => setTimeout(r, LOG_DRAIN_MS).unref())]);
    return { exitCode: waited.StatusCode, timedOut, canceled: canceled && !timedOut, durationMs: Date.now() - started };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    logAbort.abort();
    out.end();
    err.end();
  }
}
