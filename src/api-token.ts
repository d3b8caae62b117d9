import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** With no SLIPWAY_API_TOKEN, one is made once and kept (mode 600) in the data dir. */
export function resolveApiToken(configured: string | undefined, dataDir: string): { token: string; file: string | undefined } {
  return resolveSecretFile(configured, dataDir, 'api-token', () => randomBytes(24).toString('hex'));
}

/** With no SLIPWAY_VARIABLES_KEY, a key is made once and kept (mode 600) in the data dir. */
export function resolveVariablesKey(configured: string | undefined, dataDir: string): { token: string; file: string | undefined } {
  return resolveSecretFile(configured, dataDir, 'variables-key', () => randomBytes(32).toString('hex'));
}

function resolveSecretFile(configured: string | undefined, dataDir: string, name: string, make: () => string): { token: string; file: string | undefined } {
  if (configured) return { token: configured, file: undefined };
  const file = path.join(dataDir, name);
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 16) return { token: existing, file };
  } catch {
    /* first start */
  }
  mkdirSync(dataDir, { recursive: true });
  const token = make();
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, file };
}
