import { describe, expect, it } from 'vitest';
import { decodeTrace, encodeTrace } from '../../../src/buildkit/messages.js';
import { TraceLog } from '../../../src/buildkit/trace-log.js';

type TraceInput = Parameters<typeof encodeTrace>[0];
const T0 = 1_700_000_000_000;
const msg = (s: string): Uint8Array => Buffer.from(s, 'utf8');

/** Feeds messages through real protobuf bytes, as they arrive in the engine's `moby.buildkit.trace` events. */
function run(messages: TraceInput[]): { lines: string[]; log: TraceLog } {
  const lines: string[] = [];
  const log = new TraceLog((l) => lines.push(l));
  for (const m of messages) log.add(decodeTrace(encodeTrace(m)));
  return { lines, log };
}

describe('TraceLog', () => {
  it('numbers steps in order of first appearance and prints DONE with the duration', () => {
    const { lines } = run([
      // BuildKit lists vertexes before they start: that is where their numbers come from.
      {
        vertexes: [
          { digest: 'sha256:def', name: '[internal] load build definition from Dockerfile' },
          { digest: 'sha256:ctx', name: '[internal] load build context' },
        ],
      },
      { vertexes: [{ digest: 'sha256:ctx', name: '[internal] load build context', started: T0 }] },
      { vertexes: [{ digest: 'sha256:def', name: '[internal] load build definition from Dockerfile', started: T0 }] },
      { vertexes: [{ digest: 'sha256:def', name: '[internal] load build definition from Dockerfile', started: T0, completed: T0 + 500 }] },
      { vertexes: [{ digest: 'sha256:ctx', name: '[internal] load build context', started: T0, completed: T0 + 1200 }] },
    ]);
    expect(lines).toEqual(['#2 [internal] load build context', '#1 [internal] load build definition from Dockerfile', '#1 DONE 0.5s', '#2 DONE 1.2s']);
  });

  it('prints CACHED and counts only Dockerfile steps as cached', () => {
    const { lines, log } = run([
      { vertexes: [{ digest: 'm', name: '[internal] load metadata for docker.io/library/node:20', cached: true }] },
      { vertexes: [{ digest: 'f', name: '[1/4] FROM docker.io/library/node:20@sha256:abc', cached: true, started: T0, completed: T0 }] },
      { vertexes: [{ digest: 'c', name: '[2/4] COPY package.json /app/', cached: true, started: T0, completed: T0 }] },
      // Repeated updates of a cached step must not count it twice.
      { vertexes: [{ digest: 'c', name: '[2/4] COPY package.json /app/', cached: true, started: T0, completed: T0 }] },
    ]);
    expect(lines).toEqual([
      '#1 [internal] load metadata for docker.io/library/node:20',
      '#1 CACHED',
      '#2 [1/4] FROM docker.io/library/node:20@sha256:abc',
      '#2 CACHED',
      '#3 [2/4] COPY package.json /app/',
      '#3 CACHED',
    ]);
    expect(log.cachedSteps).toBe(2);
  });

  it("prefixes a step's output with its number, joining lines split across messages", () => {
    const step = { digest: 'run', name: '[3/4] RUN npm ci', started: T0 };
    const { lines, log } = run([
      { vertexes: [step] },
      { logs: [{ vertex: 'run', stream: 1, msg: msg('added 1 pack') }] },
      {
        logs: [
          { vertex: 'run', stream: 1, msg: msg('age in 2s\r\nnpm notice ') },
          { vertex: 'run', stream: 2, msg: msg('new version\n') },
        ],
      },
      // The step ends without a final newline: the rest is printed before DONE.
      { logs: [{ vertex: 'run', stream: 1, msg: msg('no newline') }] },
      { vertexes: [{ ...step, completed: T0 + 2000 }] },
      { vertexes: [{ digest: 'tail', name: '[4/4] RUN echo', started: T0 }], logs: [{ vertex: 'tail', stream: 1, msg: msg('cut off') }] },
    ]);
    expect(lines).toEqual([
      '#1 [3/4] RUN npm ci',
      '#1 added 1 package in 2s',
      '#1 npm notice new version',
      '#1 no newline',
      '#1 DONE 2.0s',
      '#2 [4/4] RUN echo',
    ]);
    // A stream that stops mid-line (the build was cancelled) still shows that line at the end.
    log.end();
    expect(lines.at(-1)).toBe('#2 cut off');
  });

  it('prints the error and names the failing step', () => {
    const { lines, log } = run([
      // An inline cache that does not exist yet is reported as an error but does not fail the build.
      {
        vertexes: [
          {
            digest: 'imp',
            name: 'importing cache manifest from registry.test/app:cache',
            started: T0,
            completed: T0 + 50,
            error: 'registry.test/app:cache: not found',
          },
        ],
      },
      { vertexes: [{ digest: 'ok', name: '[2/3] COPY . /app', started: T0, completed: T0 + 100 }] },
      { vertexes: [{ digest: 'bad', name: '[3/3] RUN npm test', started: T0 + 100 }] },
      { logs: [{ vertex: 'bad', stream: 2, msg: msg('1 failing') }] },
      {
        vertexes: [
          {
            digest: 'bad',
            name: '[3/3] RUN npm test',
            started: T0 + 100,
            completed: T0 + 900,
            error: 'process "/bin/sh -c npm test" did not complete successfully: exit code: 1',
          },
        ],
      },
    ]);
    expect(lines).toEqual([
      '#1 importing cache manifest from registry.test/app:cache',
      '#1 ERROR: registry.test/app:cache: not found',
      '#2 [2/3] COPY . /app',
      '#2 DONE 0.1s',
      '#3 [3/3] RUN npm test',
      // The output before the error, then the error itself.
      '#3 1 failing',
      '#3 ERROR: process "/bin/sh -c npm test" did not complete successfully: exit code: 1',
    ]);
    expect(log.failedStep).toBe('[3/3] RUN npm test');
  });

  it('blames no step when only the cache import failed', () => {
    const { log } = run([
      { vertexes: [{ digest: 'imp', name: 'importing cache manifest from registry.test/app:cache', started: T0, completed: T0 + 50, error: 'not found' }] },
      { vertexes: [{ digest: 'ok', name: '[1/1] FROM scratch', started: T0, completed: T0 + 1 }] },
    ]);
    expect(log.failedStep).toBeUndefined();
  });

  it('names the step that failed, not the steps BuildKit canceled because of it', () => {
    const { lines, log } = run([
      {
        vertexes: [
          {
            digest: 't',
            name: '[3/3] RUN npm test',
            started: T0,
            completed: T0 + 100,
            error: 'process "/bin/sh -c npm test" did not complete successfully: exit code: 1',
          },
        ],
      },
      { vertexes: [{ digest: 'b', name: '[internal] load build context', started: T0, completed: T0 + 100, error: 'context canceled' }] },
      {
        vertexes: [
          { digest: 's', name: '[build 2/2] RUN make', started: T0, completed: T0 + 100, error: 'rpc error: code = Canceled desc = context canceled' },
        ],
      },
    ]);
    expect(log.failedStep).toBe('[3/3] RUN npm test');
    expect(lines).toContain('#2 CANCELED');
    expect(lines).toContain('#3 CANCELED');
    expect(lines.filter((l) => l.includes('ERROR'))).toEqual(['#1 ERROR: process "/bin/sh -c npm test" did not complete successfully: exit code: 1']);
  });
});
