import { z } from 'zod';

// Kubernetes quantities, as users of `resources:` in a Pod spec write them: cpu in cores ("0.5", 2)
// or millicores ("500m"); memory in bytes with a decimal (k, M, G, T) or binary (Ki, Mi, Gi, Ti) suffix.
const CPU = /^(\d+(\.\d{1,3})?|\d+m)$/;
const MEMORY = /^(\d+)(k|M|G|T|Ki|Mi|Gi|Ti)?$/;
const MEMORY_UNIT: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** Millicores of a cpu quantity ("500m", "0.5", 2), or undefined when it is not one. */
export function cpuMillis(v: string | number): number | undefined {
  const s = String(v);
  if (!CPU.test(s)) return undefined;
  return s.endsWith('m') ? Number(s.slice(0, -1)) : Math.round(Number(s) * 1000);
}

/** Bytes of a memory quantity ("256Mi", "1G", 1048576), or undefined when it is not one. */
export function memoryBytes(v: string | number): number | undefined {
  const m = MEMORY.exec(String(v));
  if (!m?.[1]) return undefined;
  return Number(m[1]) * (MEMORY_UNIT[m[2] ?? ''] ?? 1);
}

const cpu = z
  .union([z.string(), z.number()])
  .refine((v) => (cpuMillis(v) ?? 0) > 0, { message: 'a cpu quantity: cores (0.5, 2) or millicores (500m), more than zero' });
const memory = z
  .union([z.string(), z.number()])
  .refine((v) => (memoryBytes(v) ?? 0) >= 4 * 2 ** 20, { message: 'a memory quantity like 256Mi or 1Gi (bytes, k, M, G, Ki, Mi, Gi), at least 4Mi' });
const amounts = z.strictObject({ cpu: cpu.optional(), memory: memory.optional() });

/**
 * A job's `resources:` (Kubernetes' container resources): requests (what the step is guaranteed /
 * scheduled by) and limits (what it may not exceed). A request above its limit is refused here, as
 * the Kubernetes API would refuse it.
 */
export const resourcesSchema = z.strictObject({ requests: amounts.optional(), limits: amounts.optional() }).superRefine((r, ctx) => {
  for (const [key, parse] of [
    ['cpu', cpuMillis],
    ['memory', memoryBytes],
  ] as const) {
    const req = r.requests?.[key];
    const lim = r.limits?.[key];
    if (req === undefined || lim === undefined) continue;
    if ((parse(req) ?? 0) > (parse(lim) ?? 0)) {
      ctx.addIssue({ code: 'custom', path: ['requests', key], message: `the ${key} request (${req}) is above its limit (${lim})` });
    }
  }
});

export type ResourcesSpec = z.infer<typeof resourcesSchema>;
