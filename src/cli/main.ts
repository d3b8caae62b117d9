#!/usr/bin/env node
import { planCommand, validateCommand } from './plan.js';

const USAGE = `usage: slipway <command>
  demo [--exit]        a GitLab merge flowing to a running service, on this machine
  validate [file]      check a pipeline file (default .slipway.yml) with its includes; exit 0 valid, 1 invalid, 2 unreadable
  plan [file] [--event merge|mr|push|tag|manual] [--ref R] [--changed PATH]... [--json]
                       which jobs would run, in order, and the rule that skipped each other job
  server               run Slipway (same as src/main.ts)`;

async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'demo': {
      const { runDemo } = await import('./demo.js');
      return runDemo({ keepRunning: !rest.includes('--exit') && Boolean(process.stdout.isTTY) });
    }
    case 'validate':
      return validateCommand(rest, (l) => process.stdout.write(`${l}\n`), (l) => process.stderr.write(`${l}\n`));
    case 'plan':
      return planCommand(rest, (l) => process.stdout.write(`${l}\n`), (l) => process.stderr.write(`${l}\n`));
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
