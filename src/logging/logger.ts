import { pino, type Logger } from 'pino';
import type { Masker } from './mask.js';

export type { Logger };

/**
 * The root logger. Messages are static; data goes in fields (Renovate's habit). Every line passes
 * through the masker after serialisation, so a secret hidden in any field is masked too.
 */
export function createLogger(opts: { level: string; mask: Masker; destination?: NodeJS.WritableStream }): Logger {
  const out = opts.destination ?? process.stdout;
  const stream = { write: (line: string) => out.write(opts.mask(line)) };
  return pino({ level: opts.level, base: { app: 'slipway' }, timestamp: pino.stdTimeFunctions.isoTime }, stream);
}
