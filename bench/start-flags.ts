import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');

/**
 * The Node flags of `npm start` (`node <flags> dist/src/main.js`), so that a benchmark starts
 * Slipway's compiled processes as production does (the image sets the same in NODE_OPTIONS).
 */
export function startFlags(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts?: { start?: string } };
  const words = (pkg.scripts?.start ?? '').split(/\s+/).filter(Boolean);
  return words.slice(1).filter((w) => w.startsWith('--'));
}
