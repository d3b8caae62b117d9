import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** With no SLIPWAY_API_TOKEN, one is made once and kept (mode 600) in the data dir. */
export function resolveApiToken(configured: string | undefined, dataDir: string): { token: string; file: string | undefined } {
  if (configured) return { token: configured, file: undefined };
  const file = path.join(dataDir, 'api-token');
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing.length >= 16) return { token: existing, file };
  } catch { /* first start */ }
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('hex');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, file };
}
