import type { GitlabClient } from '../gitlab/client.js';
import type { ReleaseEntry } from '../releases/types.js';
import type { RunRecord } from '../runs/types.js';

export interface ChangeStartSources {
  runs: { get(id: string): Promise<RunRecord | null> };
  gitlab: Pick<GitlabClient, 'mergeRequestCommitDates' | 'commitDates'>;
}

/** Answers kept per process: commit times never change, so an answer is good for as long as it is kept. */
const CACHE_MAX = 5_000;

/**
 * Where a deploy's lead time starts: the first commit of its change. For a run of a merge request
 * (merged or not), the earliest `authored_date` among the merge request's commits (GitLab's "Get single
 * merge request commits"); for any other run (a push, a tag, a run started by hand), or a merge
 * request GitLab no longer knows or whose run record has expired, the `authored_date` of the deployed
 * commit itself. Null when GitLab cannot say (an error is not kept, so the next computation asks again).
 */
export class ChangeStarts {
  private readonly cache = new Map<string, string | null>();

  constructor(private readonly sources: ChangeStartSources) {}

  async of(entry: ReleaseEntry): Promise<string | null> {
    try {
      const run = await this.sources.runs.get(entry.runId);
      const mr = run?.request.mergeRequest;
      if (mr) {
        const first = await this.cached(`mr:${entry.project.id}:${mr.iid}`, async () => {
          const commits = await this.sources.gitlab.mergeRequestCommitDates(entry.project.id, mr.iid);
          const times = (commits ?? []).map((c) => c.authoredAt).filter((t) => !Number.isNaN(Date.parse(t)));
          return times.length === 0 ? null : times.reduce((a, b) => (Date.parse(a) <= Date.parse(b) ? a : b));
        });
        if (first) return first;
      }
      return await this.cached(
        `commit:${entry.project.id}:${entry.sha}`,
        async () => (await this.sources.gitlab.commitDates(entry.project.id, entry.sha))?.authoredAt ?? null,
      );
    } catch {
      return null;
    }
  }

  private async cached(key: string, ask: () => Promise<string | null>): Promise<string | null> {
    if (this.cache.has(key)) return this.cache.get(key) ?? null;
    const value = await ask();
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value ?? '');
    this.cache.set(key, value);
    return value;
  }
}
