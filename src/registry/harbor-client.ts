import { basicHeader, type Credentials } from './auth.js';
import { backoffDelay, DEFAULT_BACKOFF, isRetryableStatus, sleep, type BackoffPolicy } from './backoff.js';
import { describeErrorBody, RegistryError } from './errors.js';
import { coveringRule, immutableRuleSchema, type ImmutableRule } from './harbor-immutability.js';

export type { ImmutableRule } from './harbor-immutability.js';
export { imageTags, type ImageTagInput } from './image-tags.js';

export interface HarborClientOptions {
  /** e.g. "https://harbor.example.com" (no /api suffix). */
  url: string;
  /** A robot account (name like "robot$ci+push") or a user. */
  auth: Credentials;
  timeoutMs?: number;
  backoff?: BackoffPolicy;
}

export type TagWritable = { writable: true; exists: boolean } | { writable: false; reason: string; ruleId: number | undefined };

/**
 * Harbor API v2.0, the few calls a build needs: make sure the project exists
 * and tell whether pushing a tag would hit an immutability rule. Basic auth
 * on every call (Harbor's API does not challenge robots first).
 */
export class HarborClient {
  private readonly base: string;
  private readonly host: string;
  private readonly authorization: string;
  private readonly timeoutMs: number;
  private readonly backoff: BackoffPolicy;

  constructor(opts: HarborClientOptions) {
    this.base = `${opts.url.replace(/\/+$/, '')}/api/v2.0`;
    this.host = new URL(opts.url).host;
    this.authorization = basicHeader(opts.auth);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  /** HEAD /projects?project_name= : 200 exists, 404 not. */
  async projectExists(project: string): Promise<boolean> {
    const res = await this.send('HEAD', `/projects?${new URLSearchParams({ project_name: checkProject(project) })}`, [404]);
    return res.status === 200;
  }

  /**
   * Creates the project when missing (POST /projects). Two builds racing to
   * create it are fine: Harbor's 409 "already exists" counts as success.
   */
  async ensureProject(project: string, opts: { public?: boolean } = {}): Promise<{ created: boolean }> {
    if (await this.projectExists(project)) return { created: false };
    const body = { project_name: checkProject(project), metadata: { public: String(opts.public ?? false) } };
    const res = await this.send('POST', '/projects', [409], body);
    return { created: res.status === 201 };
  }

  /** GET /projects/{name}/immutabletagrules (name marked with X-Is-Resource-Name). */
  async immutableRules(project: string): Promise<ImmutableRule[]> {
    const res = await this.send('GET', `/projects/${encodeURIComponent(checkProject(project))}/immutabletagrules?page_size=100`, []);
    const parsed = immutableRuleSchema.array().safeParse(await res.json().catch(() => undefined));
    if (!parsed.success) throw this.error('GET immutabletagrules', res.status, 'unexpected response shape', false);
    return parsed.data;
  }

  /** GET /projects/{p}/repositories/{r}/artifacts/{tag}: the repository name is URL-encoded twice (Harbor's rule for names with "/"). */
  async tagExists(project: string, repository: string, tag: string): Promise<boolean> {
    const repo = encodeURIComponent(encodeURIComponent(repository));
    const path = `/projects/${encodeURIComponent(checkProject(project))}/repositories/${repo}/artifacts/${encodeURIComponent(tag)}`;
    const res = await this.send('GET', path, [404]);
    await res.body?.cancel();
    return res.status === 200;
  }

  /**
   * Can `tag` be pushed? No when it exists and an enabled immutability rule
   * covers it: Harbor would refuse the push (and we must never overwrite a
   * released tag anyway), so the build says so before pushing.
   */
  async checkTagWritable(opts: { project: string; repository: string; tag: string }): Promise<TagWritable> {
    const exists = await this.tagExists(opts.project, opts.repository, opts.tag);
    if (!exists) return { writable: true, exists };
    const rule = coveringRule(await this.immutableRules(opts.project), opts.repository, opts.tag);
    if (!rule) return { writable: true, exists };
    return {
      writable: false,
      ruleId: rule.id,
      reason: `tag ${opts.project}/${opts.repository}:${opts.tag} already exists and is immutable (Harbor rule ${rule.id ?? '?'}: ${rule.tag_selectors.map((s) => `${s.decoration} ${s.pattern}`).join(', ')})`,
    };
  }

  private async send(method: 'GET' | 'HEAD' | 'POST', path: string, expect: readonly number[], body?: unknown): Promise<Response> {
    const call = `${method} ${path.split('?')[0] ?? path}`;
    for (let attempt = 1; ; attempt++) {
      let status: number | null = null;
      let detail: string;
      try {
        const headers: Record<string, string> = { Authorization: this.authorization, Accept: 'application/json', 'X-Is-Resource-Name': 'true' };
        if (body !== undefined) headers['Content-Type'] = 'application/json';
        const res = await fetch(`${this.base}${path}`, {
          method,
          headers,
          signal: AbortSignal.timeout(this.timeoutMs),
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
        if (res.ok || expect.includes(res.status)) return res;
        status = res.status;
        detail = describeErrorBody(await res.text().catch(() => ''));
      } catch (err) {
        detail = (err as Error).name === 'TimeoutError' ? 'timed out' : ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message);
      }
      const retryable = status === null || isRetryableStatus(status);
      if (!retryable || attempt > this.backoff.retries) throw this.error(call, status, detail, retryable, attempt);
      await sleep(backoffDelay(attempt - 1, this.backoff));
    }
  }

  private error(call: string, status: number | null, detail: string, retryable: boolean, attempts = 1): RegistryError {
    return new RegistryError({ registry: this.host, call: `Harbor ${call}`, status, retryable, attempts, detail });
  }
}

// Harbor project names: lowercase letters, digits and ._- , starting with a letter or digit, 1–255 chars.
function checkProject(project: string): string {
  if (!/^[a-z0-9][a-z0-9._-]{0,254}$/.test(project)) throw new Error(`invalid Harbor project name ${JSON.stringify(project)}`);
  return project;
}
