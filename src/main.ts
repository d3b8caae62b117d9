import module from 'node:module';
import type { Role } from './slipway.js';

/**
 * `slipway` server entrypoint. SLIPWAY_ROLES picks the roles (default: all in one process, the
 * embedded default); workers/ has one thin entrypoint per role for scaled-out deployments.
 *
 * Everything else is imported inside main(), after Node's compile cache is on, so that the cache
 * covers every module a start loads (start-up time, docs/benchmarks.md).
 */
export async function main(roles?: readonly Role[]): Promise<void> {
  enableCompileCache();
  const [{ readConfig }, { ALL_ROLES, startSlipway }, { installShutdown }] = await Promise.all([
    import('./config/config.js'),
    import('./slipway.js'),
    import('./shutdown.js'),
  ]);
  const result = readConfig(process.env);
  if (!result.ok) {
    process.stderr.write(`slipway: invalid configuration:\n${result.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exit(2);
  }
  const slipway = await startSlipway(result.config, roles ?? rolesFromEnv(ALL_ROLES));
  if (slipway.apiTokenFile) slipway.logger.info({ file: slipway.apiTokenFile }, 'API token kept in file');
  installShutdown(slipway.logger, () => slipway.stop());
}

/**
 * Node 22.1+ keeps V8's compiled code of the modules loaded after this call on disk
 * (os.tmpdir()/node-compile-cache, or where NODE_COMPILE_CACHE says; NODE_DISABLE_COMPILE_CACHE=1
 * turns it off) and reuses it on the next start. Node 20 has no such cache: nothing happens. A
 * directory that cannot be written only means no cache; Node reports that in the return value, it
 * does not throw.
 */
function enableCompileCache(): void {
  (module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
}

function rolesFromEnv(all: readonly Role[]): Role[] {
  const raw = process.env['SLIPWAY_ROLES'];
  if (!raw) return [...all];
  const roles = raw
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const bad = roles.filter((r) => !(all as readonly string[]).includes(r));
  if (bad.length > 0) {
    process.stderr.write(`slipway: unknown role(s) in SLIPWAY_ROLES: ${bad.join(', ')} (known: ${all.join(', ')})\n`);
    process.exit(2);
  }
  return roles as Role[];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`slipway: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
