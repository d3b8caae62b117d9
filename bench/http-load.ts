import net from 'node:net';

/**
 * A small HTTP/1.1 load generator: `connections` keep-alive sockets, one request in flight on each
 * (like autocannon's default), for `durationMs`. Requests are written as raw bytes and responses
 * parsed only as far as the status line and Content-Length, so the generator costs little CPU next
 * to the server it measures (node:http's client costs about as much as a bare server). No
 * load-generator package is installed (docs/decisions.md, "The ingest benchmark's load generator").
 */
export interface LoadOptions {
  host: string;
  port: number;
  connections: number;
  durationMs: number;
  /** Stops early once this says so (checked before each request). */
  until?: () => boolean;
  /** The whole request (head and body) for the n-th request; n counts from 0 across connections. */
  request(n: number): Buffer;
}

export interface LoadResult {
  requests: number;
  /** Responses by status code. */
  statuses: Map<number, number>;
  /** Socket errors, unparsable responses and requests still unanswered at the end. */
  errors: number;
  elapsedMs: number;
  /** Latencies in ms, sorted. */
  latencies: Float64Array;
  /** The body of one response per status code, to say what went wrong. */
  sampleBodies: Map<number, string>;
}

export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const statuses = new Map<number, number>();
  const sampleBodies = new Map<number, string>();
  let latencies = new Float64Array(1 << 16);
  let count = 0;
  let errors = 0;
  let next = 0;
  const started = performance.now();
  const deadline = started + opts.durationMs;
  const record = (ms: number) => {
    if (count === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2);
      bigger.set(latencies);
      latencies = bigger;
    }
    latencies[count++] = ms;
  };

  const connection = () =>
    new Promise<void>((resolve) => {
      const socket = net.connect({ host: opts.host, port: opts.port, noDelay: true });
      let buf: Buffer = Buffer.alloc(0);
      let sentAt = 0;
      let inFlight = false;
      const send = () => {
        if (performance.now() >= deadline || opts.until?.()) {
          socket.end();
          return;
        }
        inFlight = true;
        sentAt = performance.now();
        socket.write(opts.request(next++));
      };
      socket.once('connect', send);
      socket.on('data', (chunk: Buffer) => {
        buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
        for (;;) {
          const headEnd = buf.indexOf('\r\n\r\n');
          if (headEnd < 0) return;
          const head = buf.subarray(0, headEnd).toString('latin1');
          const status = Number(head.slice(9, 12));
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          if (!m || !Number.isInteger(status)) {
            // Chunked or malformed: this generator only speaks Content-Length.
            errors++;
            socket.destroy();
            return;
          }
          const total = headEnd + 4 + Number(m[1]);
          if (buf.length < total) return;
          record(performance.now() - sentAt);
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status !== 202 && !sampleBodies.has(status))
            sampleBodies.set(
              status,
              buf
                .subarray(headEnd + 4, total)
                .toString('utf8')
                .slice(0, 300),
            );
          buf = buf.subarray(total);
          inFlight = false;
          send();
        }
      });
      socket.on('error', () => {
        errors++;
      });
      socket.on('close', () => {
        if (inFlight) errors++;
        resolve();
      });
    });

  await Promise.all(Array.from({ length: opts.connections }, connection));
  const sorted = latencies.slice(0, count).sort();
  return { requests: count, statuses, errors, elapsedMs: performance.now() - started, latencies: sorted, sampleBodies };
}

/** The q-th quantile (0..1) of sorted values. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}
