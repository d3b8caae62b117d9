#!/usr/bin/env node
import { runCli } from './program.js';

// Ctrl-C (e.g. during `slipway logs -f`): the shell's convention for a SIGINT, 128 + 2.
process.once('SIGINT', () => process.exit(130));

runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: Boolean(process.stdout.isTTY),
}).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`slipway: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
