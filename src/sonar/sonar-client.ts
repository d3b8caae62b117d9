import { z } from 'zod';

export interface SonarClientOptions {
  /** e.g. https://sonar.example.com (the serverUrl of report-task.txt). */
  url: string;
  token: string;
  /** Basic with the token as user (every version) or Bearer (SonarQube 10+). Default basic. */
  authScheme?: 'basic' | 'bearer';
  timeoutMs?: number;
  retries?: number;
  backoffMs?: number;
}

// Only the fields we read (Web API docs: api/ce/task, api/qualitygates/project_status).
const taskSchema = z.object({
  task: z.object({
    id: z.string(),
    status: z.enum(['PENDING', 'IN_PROGRESS', 'SUCCESS', 'FAILED', 'CANCELED']),
    analysisId: z.string().optional(),
    errorMessage: z.string().optional(),
  }),
});
export type CeTask = z.infer<typeof taskSchema>['task'];

const conditionSchema = z.object({
  status: z.string(),
  metricKey: z.string(),
  comparator: z.string().optional(),
  errorThreshold: z.string().optional(),
  actualValue: z.string().optional(),
});
export type GateCondition = z.infer<typeof conditionSchema>;

const projectStatusSchema = z.object({
  projectStatus: z.object({ status: z.enum(['OK', 'WARN', 'ERROR', 'NONE']), conditions: z.array(conditionSchema).default([]) }),
});
export type ProjectStatus = z.infer<typeof projectStatusSchema>['projectStatus'];

export class SonarError extends Error {
  override readonly name = 'SonarError';
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** The two SonarQube Web API calls the quality gate needs, with timeouts and bounded retries. */
export class SonarClient {
  private readonly base: string;
  private readonly authorization: string;

  constructor(private readonly opts: SonarClientOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.authorization = opts.authScheme === 'bearer' ? `Bearer ${opts.token}` : `Basic ${Buffer.from(`${opts.token}:`).toString('base64')}`;
  }

  async ceTask(id: string): Promise<CeTask> {
    return (await this.get(`/api/ce/task?${new URLSearchParams({ id })}`, taskSchema, 'GET api/ce/task')).task;
  }

  async projectStatus(analysisId: string): Promise<ProjectStatus> {
    const path = `/api/qualitygates/project_status?${new URLSearchParams({ analysisId })}`;
    return (await this.get(path, projectStatusSchema, 'GET api/qualitygates/project_status')).projectStatus;
  }

  private async get<T>(path: string, schema: z.ZodType<T>, call: string): Promise<T> {
    const retries = this.opts.retries ?? 3;
    for (let attempt = 1; ; attempt++) {
      let status: number | null = null;
      let detail: string;
      try {
        const res = await fetch(`${this.base}${path}`, {
          headers: { Authorization: this.authorization, Accept: 'application/json' },
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        });
        status = res.status;
        const text = await res.text();
        if (res.ok) {
          const parsed = schema.safeParse(safeJson(text));
          if (parsed.success) return parsed.data;
          throw new SonarError(`SonarQube ${this.base}: ${call} answered an unexpected shape: ${parsed.error.issues[0]?.message ?? ''}`, status, false);
        }
        // Web API errors: {"errors":[{"msg":"…"}]}
        const msgs = (safeJson(text) as { errors?: Array<{ msg?: string }> } | undefined)?.errors?.map((e) => e.msg).filter(Boolean);
        detail = msgs?.length ? msgs.join('; ') : text.slice(0, 200);
      } catch (err) {
        if (err instanceof SonarError) throw err;
        detail = (err as Error).name === 'TimeoutError' ? 'timed out' : ((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message);
      }
      const retryable = status === null || status === 429 || status >= 500;
      if (!retryable || attempt > retries) {
        const answer = status === null ? 'got no answer' : `answered ${status}`;
        throw new SonarError(`SonarQube ${this.base}: ${call} ${answer}${attempt > 1 ? ` after ${attempt} attempts` : ''}: ${detail}`, status, retryable);
      }
      const step = (this.opts.backoffMs ?? 500) * 2 ** (attempt - 1);
      await new Promise((r) => setTimeout(r, step / 2 + Math.random() * (step / 2)));
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
