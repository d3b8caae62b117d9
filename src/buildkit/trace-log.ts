import type { Trace } from './messages.js';

interface VertexState {
  n: number;
  name: string;
  announced: boolean;
  cached: boolean;
  done: boolean;
  partial: string;
}

/**
 * Turns BuildKit's progress trace into the plain log `docker build --progress=plain` prints:
 * `#5 [3/4] COPY src /app/src`, `#5 CACHED`, `#6 0.512 npm notice …`, `#6 DONE 1.2s`,
 * `#6 ERROR: …`. Steps are numbered in the order they first appear.
 */
export class TraceLog {
  private readonly vertexes = new Map<string, VertexState>();
  /** The (last) step whose error failed the build, for the job's reason. */
  failedStep: string | undefined;
  /** Dockerfile steps answered from the cache. */
  cachedSteps = 0;

  constructor(private readonly onLine: (line: string) => void) {}

  add(trace: Trace): void {
    for (const v of trace.vertexes) {
      const s = this.state(v.digest, v.name);
      if (v.name) s.name = v.name;
      if (!s.announced && (v.started !== undefined || v.cached)) {
        s.announced = true;
        this.onLine(`#${s.n} ${s.name}`);
      }
      if (v.cached && !s.cached) {
        s.cached = true;
        if (/^\[[^\]]*\d+\/\d+\]/.test(s.name)) this.cachedSteps += 1;
        this.onLine(`#${s.n} CACHED`);
      }
      if (v.error && !s.done) {
        s.done = true;
        this.flush(s);
        if (/\bcanceled$/.test(v.error)) {
          // Steps running beside the failing one are stopped and reported after it: not the cause.
          this.onLine(`#${s.n} CANCELED`);
        } else {
          // A missing cache source is reported as an error but never fails the build.
          if (!s.name.startsWith('importing cache manifest from')) this.failedStep = s.name;
          this.onLine(`#${s.n} ERROR: ${v.error}`);
        }
      } else if (v.completed !== undefined && !s.done) {
        s.done = true;
        this.flush(s);
        if (!s.cached) this.onLine(`#${s.n} DONE ${(((v.completed ?? 0) - (v.started ?? v.completed ?? 0)) / 1000).toFixed(1)}s`);
      }
    }
    for (const l of trace.logs) {
      const s = this.state(l.vertex, '');
      const text = s.partial + Buffer.from(l.msg).toString('utf8');
      const lines = text.split(/\r?\n/);
      s.partial = lines.pop() ?? '';
      for (const line of lines) this.onLine(`#${s.n} ${line}`);
    }
  }

  /** Prints what is left of unfinished lines (a step that wrote no final newline). */
  end(): void {
    for (const s of this.vertexes.values()) this.flush(s);
  }

  private flush(s: VertexState): void {
    if (s.partial !== '') this.onLine(`#${s.n} ${s.partial}`);
    s.partial = '';
  }

  private state(digest: string, name: string): VertexState {
    let s = this.vertexes.get(digest);
    if (!s) {
      s = { n: this.vertexes.size + 1, name, announced: false, cached: false, done: false, partial: '' };
      this.vertexes.set(digest, s);
    }
    return s;
  }
}
