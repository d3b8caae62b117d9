import { readConfig } from './config/config.js';
import { ALL_ROLES, startSlipway, type Role } from './slipway.js';
import { installShutdown } from './shutdown.js';

/**
 * `slipway` server entrypoint. SLIPWAY_ROLES picks the roles (default: all in one process, the
 * embedded default); workers/ has one thin entrypoint per role for scaled-out deployments.
 */
export async function main(roles: readonly Role[] = rolesFromEnv()): Promise<void> {
  const result = readConfig(process.env);
  if (!result.ok) {
    process.stderr.write(`slipway: invalid configuration:\n${result.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    process.exit(2);
  }
  const slipway = await startSlipway(result.config, roles);
  if (slipway.apiTokenFile) slipway.logger.info({ file: slipway.apiTokenFile }, 'API token kept in file');
  installShutdown(slipway.logger, () => slipway.stop());
}

function rolesFromEnv(): Role[] {
  const raw = process.env['SLIPWAY_ROLES'];
  if (!raw) return [...ALL_ROLES];
  const roles = raw
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const bad = roles.filter((r) => !(ALL_ROLES as readonly string[]).includes(r));
  if (bad.length > 0) {
    process.stderr.write(`slipway: unknown role(s) in SLIPWAY_ROLES: ${bad.join(', ')} (known: ${ALL_ROLES.join(', ')})\n`);
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
