#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { formatProblem } from '../pipeline/errors.js';
import { parsePipelineFile } from '../pipeline/parse.js';

const USAGE = `usage: slipway <command>
  demo [--exit]        a GitLab merge flowing to a running service, on this machine
  validate [file]      check a pipeline file (default .slipway.yml); exit 0 valid, 1 invalid, 2 unreadable
  server               run Slipway (same as src/main.ts)`;

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      return runDemo({ keepRunning: !rest.includes('--exit') && Boolean(process.stdout.isTTY) });
    }
    case 'validate': {
      const file = rest[0] ?? '.slipway.yml';
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        process.stderr.write(`slipway: cannot read ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
        return 2;
      }
      const result = parsePipelineFile(text, file);
      if (result.ok) {
        process.stdout.write(`${file}: valid (${result.file.jobs.length} jobs)\n`);
        return 0;
      }
      for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
      return 1;
    }
    case 'server': {
      const { main } = await import('../main.js');
      await main();
      return new Promise<number>(() => undefined);
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`slipway: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
