import { cpuMillis, memoryBytes } from '../pipeline/resources.js';
import type { JobWhen } from '../pipeline/rules.js';
import type {
  ApprovalSpec,
  DeployStrategy,
  DeployWindowSpec,
  FreezeSpec,
  SoakSpec,
  PlannedAmounts,
  PlannedResources,
  PlannedArtifacts,
  PlannedCache,
  PlannedCommon,
  RetryReason,
} from './plan-types.js';
import { WEEKDAYS, type EnvironmentBlock, type JobSpec } from '../pipeline/schema.js';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** '90s', '10m', '1h 30m', or a number of seconds. Anything else → fallback (the schema rejects it first). */
export function durationMs(d: number | string | undefined, fallback: number): number {
  if (d === undefined) return fallback;
  if (typeof d === 'number') return d * 1000;
  if (!/^(\s*\d+\s*[smh])+\s*$/.test(d)) return fallback;
  let total = 0;
  for (const m of d.matchAll(/(\d+)\s*([smh])/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total;
}

/** artifacts:expire_in, GitLab's words: '30 days', '1 week', '2h'. undefined when unparseable or 'never'. */
export function humanDurationMs(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  let total = 0;
  let any = false;
  for (const m of text.toLowerCase().matchAll(/(\d+)\s*(s|sec|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\b/g)) {
    total += Number(m[1]) * UNIT_MS[m[2]![0]!]!;
    any = true;
  }
  return any ? total : undefined;
}

/** `$VAR` and `${VAR}` from vars; unknown names expand to '', `$$` is a literal '$'. No recursion. */
export function expandVariables(text: string, vars: Readonly<Record<string, string>>): string {
  return text.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, a?: string, b?: string) => {
    if (all === '$$') return '$';
    return vars[a ?? b ?? ''] ?? '';
  });
}

const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

export function retryOf(r: JobSpec['retry']): PlannedCommon['retry'] {
  if (r === undefined) return { max: 0, when: ['always'] };
  if (typeof r === 'number') return { max: r, when: ['always'] };
  const when = asList(r.when) as RetryReason[];
  const exitCodes = asList(r.exit_codes);
  return { max: r.max, when: when.length > 0 ? when : ['always'], ...(exitCodes.length > 0 ? { exitCodes } : {}) };
}

export function allowFailureOf(a: JobSpec['allow_failure'], fromRule: boolean | undefined, when: JobWhen): PlannedCommon['allowFailure'] {
  if (fromRule !== undefined) return fromRule;
  if (a === undefined) return when === 'manual'; // GitLab: manual jobs do not block by default
  if (typeof a === 'boolean') return a;
  return { exitCodes: asList(a.exit_codes) };
}

/** `resources:` as numbers (millicores, bytes); the schema has checked every quantity. */
export function resourcesOf(r: JobSpec['resources']): PlannedResources | undefined {
  if (!r) return undefined;
  const amounts = (a: { cpu?: string | number | undefined; memory?: string | number | undefined } | undefined): PlannedAmounts | undefined => {
    if (!a) return undefined;
    const out: PlannedAmounts = {};
    const cpu = a.cpu === undefined ? undefined : cpuMillis(a.cpu);
    const memory = a.memory === undefined ? undefined : memoryBytes(a.memory);
    if (cpu !== undefined) out.cpuMillis = cpu;
    if (memory !== undefined) out.memoryBytes = memory;
    return out;
  };
  const requests = amounts(r.requests);
  const limits = amounts(r.limits);
  return { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
}

export function cacheOf(c: JobSpec['cache'], jobName: string, vars: Readonly<Record<string, string>>): PlannedCache[] {
  return asList(c).map((entry) => {
    const key = entry.key;
    const base = typeof key === 'string' ? expandVariables(key, vars) : key?.prefix !== undefined ? expandVariables(key.prefix, vars) : 'default';
    return {
      key: base || jobName,
      keyFiles: typeof key === 'object' ? key.files : [],
      paths: entry.paths,
      policy: entry.policy ?? 'pull-push',
      when: entry.when ?? 'on_success',
    };
  });
}

export function artifactsOf(a: JobSpec['artifacts']): PlannedArtifacts | undefined {
  if (a === undefined) return undefined;
  const expire = humanDurationMs(a.expire_in);
  return {
    paths: a.paths ?? [],
    exclude: a.exclude ?? [],
    junit: asList(a.reports?.junit),
    when: a.when ?? 'on_success',
    ...(expire !== undefined ? { expireInMs: expire } : {}),
    ...(a.expire_in?.trim().toLowerCase() === 'never' ? { neverExpire: true } : {}),
  };
}

/** Unset: what the target does (the Docker host replaces releases blue/green; Kubernetes rolls). */
export function strategyOf(s: EnvironmentBlock['strategy'], target: EnvironmentBlock['target']): DeployStrategy {
  if (s === undefined) return target === 'docker' ? { type: 'blue-green' } : { type: 'rolling' };
  if (s === 'rolling') return { type: 'rolling' };
  if (s === 'blue-green') return { type: 'blue-green' };
  if ('rolling' in s) {
    const { maxSurge, maxUnavailable } = s.rolling;
    return { type: 'rolling', ...(maxSurge !== undefined ? { maxSurge } : {}), ...(maxUnavailable !== undefined ? { maxUnavailable } : {}) };
  }
  if ('blue-green' in s) {
    const delay = s['blue-green'].scaleDownDelay;
    return { type: 'blue-green', ...(delay !== undefined ? { scaleDownDelayMs: durationMs(delay, 0) } : {}) };
  }
  return {
    type: 'canary',
    steps: s.canary.steps.map((step) =>
      'setWeight' in step ? { setWeight: step.setWeight } : { pauseMs: step.pause.duration === undefined ? null : durationMs(step.pause.duration, 0) },
    ),
  };
}

/** Production always needs an approval; pre never unless asked; others unless `approval: false`. */
export function approvalOf(env: string, a: EnvironmentBlock['approval']): ApprovalSpec | undefined {
  if (a === false && env !== 'production') return undefined;
  if (a === undefined && env === 'pre') return undefined;
  if (a === undefined || a === true || a === false) return { required: 1, groups: [], users: [] };
  return {
    required: a.required ?? 1,
    groups: a.groups ?? [],
    users: a.users ?? [],
    ...(a.min_access !== undefined ? { minAccess: a.min_access } : {}),
    ...(a.allow_author !== undefined ? { allowAuthor: a.allow_author } : {}),
  };
}

/** 'mon-fri' → [1..5], 'sat' → [6], [sat, sun] → [0, 6]; a range may wrap ('fri-mon'). */
function daysOf(days: string | readonly string[]): number[] {
  const index = (d: string) => WEEKDAYS.indexOf(d as (typeof WEEKDAYS)[number]);
  if (typeof days !== 'string') return [...new Set(days.map(index))].sort((a, b) => a - b);
  const [from, to] = days.split('-').map(index);
  if (from === undefined || to === undefined) return [index(days)];
  const out: number[] = [];
  for (let d = from; ; d = (d + 1) % 7) {
    out.push(d);
    if (d === to) break;
  }
  return out.sort((a, b) => a - b);
}

/** The environment's deploy windows, freezes and soak as the deploy job checks them; `previous`: the environment listed before it. */
export function gatesOf(env: EnvironmentBlock, previous: string | undefined): { windows?: DeployWindowSpec[]; freezes?: FreezeSpec[]; soak?: SoakSpec } {
  const windows = env.deploy_windows?.map((w) => ({ days: daysOf(w.days), from: w.from, to: w.to, timezone: w.timezone }));
  const freezes = env.freeze?.map((f) => ({ name: f.name, start: f.start.trim(), end: f.end.trim(), timezone: f.timezone }));
  return {
    ...(windows ? { windows } : {}),
    ...(freezes ? { freezes } : {}),
    ...(env.soak !== undefined && previous !== undefined ? { soak: { ms: durationMs(env.soak, 0), after: previous } } : {}),
  };
}
