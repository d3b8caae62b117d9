import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { packageRoot } from '../config/paths.js';
import { decideCommand, type ServerOptions } from './approve.js';
import { PLAN_EVENTS, planCommand, validateCommand, type PlanOptions } from './plan.js';
import type { RenderOptions } from './render.js';
import type { ReleasesOptions, ResumeOptions, RollbackOptions } from './releases.js';
import type { LogsOptions, StartOptions, StatusOptions } from './runs.js';

/** Where the CLI writes; the real process passes its streams, tests pass buffers. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** The demo keeps Slipway running after the run only in a terminal. */
  isTTY: boolean;
  /** Where server commands read SLIPWAY_URL and the tokens (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

/** Exit codes every command shares; a command's own meaning of 1 is in its help. */
export const EXIT_USAGE = 2;

const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function collectVar(raw: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = raw.indexOf('=');
  const name = eq > 0 ? raw.slice(0, eq) : '';
  if (!VAR_NAME.test(name)) throw new InvalidArgumentError('expected NAME=VALUE, NAME made of letters, digits and _');
  return { ...(previous ?? {}), [name]: raw.slice(eq + 1) };
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function version(): string {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

/**
 * The `slipway` command tree. Actions report their exit code through `setExit` rather than exiting,
 * so the same program runs in the real process and in tests.
 */
export function createProgram(io: CliIo, setExit: (code: number) => void): Command {
  const out = (line: string) => io.stdout(`${line}\n`);
  const err = (line: string) => io.stderr(`${line}\n`);
  const program = new Command('slipway')
    .description('Slipway, a CI/CD engine driven by GitLab webhooks')
    .version(version(), '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .helpCommand('help [command]', 'show help for a command')
    // Set before the subcommands are added: each copies these settings.
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride()
    .showHelpAfterError()
    .addHelpText('after', '\nExit codes: 2 for an unknown command or option or a bad value; `slipway <command> --help` gives the rest.');

  program
    .command('demo')
    .description('a GitLab merge flowing to a running service, on this machine')
    .option('--exit', 'stop Slipway when the run ends (in a terminal it keeps running so the run page works)')
    .addHelpText('after', '\nExit codes: 0 the run succeeded and the service answers, 1 otherwise.')
    .action(async (opts: { exit?: boolean }) => {
      const { runDemo } = await import('./demo.js');
      setExit(await runDemo({ keepRunning: !opts.exit && io.isTTY }));
    });

  program
    .command('validate')
    .description('check a pipeline file with its local includes (project includes are not read offline)')
    .argument('[file]', 'the pipeline file', '.slipway.yml')
    .option('--json', 'print the result as one JSON object: { file, valid, problems, jobs, includes, notChecked }')
    .addHelpText('after', '\nExit codes: 0 valid, 1 invalid, 2 bad usage or the file cannot be read.')
    .action(async (file: string, opts: { json?: boolean }) => {
      setExit(await validateCommand(file, { json: opts.json === true }, out, err));
    });

  program
    .command('plan')
    .description('which jobs would run for an event, in order, and the rule that skipped each other job')
    .argument('[file]', 'the pipeline file', '.slipway.yml')
    .addOption(new Option('--event <event>', 'the event to plan for').choices(PLAN_EVENTS).default('merge'))
    .option('--ref <name>', 'the branch or tag (default: main; feature for mr; v0.0.0 for tag)')
    .option('--target <branch>', 'the merge request target branch')
    .option('--changed <path>', 'a changed file, for rules: changes (repeatable; none given = diff unknown)', collect)
    .option('--var <NAME=VALUE>', 'a variable for rules: if (repeatable)', collectVar)
    .option('--json', 'print the plan as JSON (an invalid file: { problems })')
    .addHelpText('after', '\nExit codes: 0 planned, 1 invalid file, 2 bad usage or the file cannot be read.')
    .action(async (file: string, opts: PlanOptions) => {
      setExit(await planCommand(file, opts, out, err));
    });

  const serverCommand = (name: 'approve' | 'reject', description: string) => {
    const c = program
      .command(name)
      .description(description)
      .argument('<run>', 'the run id')
      .argument('<job>', 'the waiting job, e.g. deploy:production')
      .option('--url <url>', 'the Slipway server (default: $SLIPWAY_URL)')
      .option('--token-file <file>', "a file holding Slipway's API token (default: $SLIPWAY_TOKEN)")
      .option('--gitlab-token-file <file>', 'a file holding your GitLab personal access token, which says who decides (default: $SLIPWAY_GITLAB_TOKEN)')
      .option('--json', "print the server's answer as one JSON object ({ status, ... })");
    if (name === 'reject') c.requiredOption('--reason <text>', 'why the step must not run (shown on the commit status and in the MR note)');
    c.addHelpText(
      'after',
      '\nTokens are read from the environment or from files, never from the command line.\nExit codes: 0 recorded, 1 refused (not allowed, not waiting, unknown run or job), 2 bad usage or a missing URL or token, 3 Slipway or GitLab could not be reached or refused the API token.',
    ).action(async (run: string, job: string, opts: ServerOptions) => {
      setExit(await decideCommand(name, run, job, opts, io.env ?? process.env, out, err));
    });
  };
  serverCommand('approve', 'approve a step waiting for an approval (a deploy, a manual job); the approval that satisfies its rule starts it');
  serverCommand('reject', 'reject a step waiting for an approval: it ends failed with the reason');

  const serverFlags = (c: Command) =>
    c
      .option('--url <url>', 'the Slipway server (default: $SLIPWAY_URL)')
      .option('--token-file <file>', "a file holding Slipway's API token (default: $SLIPWAY_TOKEN)");
  const tokensNote = 'Tokens are read from the environment or from files, never from the command line.';
  const runsIo = () => ({ out, err, env: io.env ?? process.env });

  serverFlags(
    program
      .command('status')
      .description('a run with its jobs, or the latest runs (of a project, of a branch)')
      .argument('[run]', 'the run id (none: the latest runs)'),
  )
    .option('--project <id>', 'only runs of this GitLab project')
    .option('--ref <branch>', 'only runs for this branch or tag')
    .option('--limit <n>', 'how many runs to list (1-500)', '20')
    .option('--json', 'print the run (or { runs }) as the API answers it')
    .addHelpText(
      'after',
      `\n${tokensNote}\nExit codes: 0 shown (a run that did not fail, or a list), 1 the run failed or was canceled, or is unknown, 2 bad usage or a missing URL or token, 3 Slipway could not be reached or refused the API token.`,
    )
    .action(async (run: string | undefined, opts: StatusOptions) => {
      const { statusCommand } = await import('./runs.js');
      setExit(await statusCommand(run, opts, runsIo()));
    });

  serverFlags(program.command('logs').description("a run's log; with -f, followed until the run ends").argument('<run>', 'the run id'))
    .option('-f, --follow', 'keep printing new lines until the run ends (run and job changes go to stderr)')
    .option('--timeout <seconds>', 'with -f: stop waiting after this long', '3600')
    .option('--json', 'one JSON object per log line ({ t, job, stream, line }); with -f, then { run, status }')
    .addHelpText(
      'after',
      `\n${tokensNote}\nExit codes: 0 printed (with -f: the run succeeded or was skipped), 1 with -f the run failed or was canceled, or the run is unknown, 2 bad usage or a missing URL or token, 3 Slipway could not be reached or refused the API token, 4 with -f the run was still going at --timeout, 130 interrupted (Ctrl-C).`,
    )
    .action(async (run: string, opts: LogsOptions) => {
      const { logsCommand } = await import('./runs.js');
      // Only while logs runs: `slipway server` has its own graceful SIGINT handling.
      const interrupt = new AbortController();
      const onSigint = () => interrupt.abort();
      process.once('SIGINT', onSigint);
      try {
        setExit(await logsCommand(run, opts, runsIo(), interrupt.signal));
      } finally {
        process.off('SIGINT', onSigint);
      }
    });

  serverFlags(program.command('run').description('start a pipeline for the head of a branch by hand (as GitLab\'s "Run pipeline")'))
    .requiredOption('--project <id>', 'the GitLab project id')
    .requiredOption('--ref <branch>', 'the branch')
    .option('--gitlab-token-file <file>', 'a file holding your GitLab token, to record who started the run (default: $SLIPWAY_GITLAB_TOKEN; optional)')
    .option('--json', "print the server's answer as one JSON object ({ status, runId, sha, ... })")
    .addHelpText(
      'after',
      `\n${tokensNote}\nExit codes: 0 started, 1 refused (no such project or branch, GitLab refused your token), 2 bad usage or a missing URL or token, 3 Slipway or GitLab could not be reached or Slipway refused the API token.`,
    )
    .action(async (opts: StartOptions) => {
      const { runCommand } = await import('./runs.js');
      setExit(await runCommand(opts, runsIo()));
    });

  const userFlag = (c: Command) =>
    c.option('--user <name>', 'who acts, as recorded in the release history and the audit log (default: $SLIPWAY_USER, else "api")');

  userFlag(
    serverFlags(
      program
        .command('rollback')
        .description('re-apply an earlier release of an environment at once (no tests, no canary), then pause its automatic deploys')
        .argument('<service>', 'the service')
        .argument('<environment>', 'the environment, e.g. production'),
    ),
  )
    .option('--to <release>', 'the release id to go back to (default: the newest release older than the live one that went live)')
    .option('--reason <text>', 'why (required; recorded, and shown on the deploys that wait for the resume)')
    .option('--no-wait', 'answer once the rollback is queued instead of following it to its verdict')
    .option('--timeout <seconds>', 'stop following after this long', '900')
    .option('--json', 'print the rollback as one JSON object once it ends (a refusal: { status, error })')
    .addHelpText(
      'after',
      `\nAutomatic deploys to the environment stay paused until \`slipway resume\`.\n${tokensNote}\nExit codes: 0 rolled back (the release is live again; with --no-wait: queued), 1 refused (unknown service, environment or release, a release that never went live, nothing to roll back to, a rollback in progress) or the rollback's verdict was bad, 2 bad usage or a missing URL or token, 3 Slipway could not be reached or refused the API token, 4 still going at --timeout.`,
    )
    .action(async (service: string, environment: string, opts: RollbackOptions) => {
      const { rollbackCommand } = await import('./releases.js');
      setExit(await rollbackCommand(service, environment, opts, runsIo()));
    });

  userFlag(
    serverFlags(
      program
        .command('resume')
        .description('resume automatic deploys to an environment paused by a rollback (a deploy waiting for it goes on)')
        .argument('<service>', 'the service')
        .argument('<environment>', 'the environment'),
    ),
  )
    .option('--reason <text>', 'why (recorded in the audit log)')
    .option('--json', "print the server's answer as one JSON object ({ status, resumed, ... })")
    .addHelpText(
      'after',
      `\n${tokensNote}\nExit codes: 0 resumed (or was not paused), 1 unknown service or environment, 2 bad usage or a missing URL or token, 3 Slipway could not be reached or refused the API token.`,
    )
    .action(async (service: string, environment: string, opts: ResumeOptions) => {
      const { resumeCommand } = await import('./releases.js');
      setExit(await resumeCommand(service, environment, opts, runsIo()));
    });

  serverFlags(
    program
      .command('releases')
      .description("an environment's release history, newest first (* marks the live release), and whether its automatic deploys are paused")
      .argument('<service>', 'the service')
      .argument('<environment>', 'the environment'),
  )
    .option('--limit <n>', 'how many releases (1-50)', '20')
    .option('--json', 'print { live, paused, releases } as the API answers it')
    .addHelpText(
      'after',
      `\n${tokensNote}\nExit codes: 0 listed, 1 unknown service or environment, 2 bad usage or a missing URL or token, 3 Slipway could not be reached or refused the API token.`,
    )
    .action(async (service: string, environment: string, opts: ReleasesOptions) => {
      const { releasesCommand } = await import('./releases.js');
      setExit(await releasesCommand(service, environment, opts, runsIo()));
    });

  program
    .command('render')
    .description('print the Kubernetes objects a deploy of this working tree would apply (rendered and validated as the deploy worker does)')
    .argument('[file]', 'the pipeline file', '.slipway.yml')
    .requiredOption('--env <environment>', 'the deploy environment (target: kubernetes)')
    .requiredOption('--image <ref>', 'the image reference, preferably by digest')
    .option('--service <name>', 'the service name (default: deploy.service, else the directory name)')
    .option('--commit <sha>', 'the commit to name in labels and annotations')
    .option('--run <id>', 'the run id to name in labels and annotations')
    .option('--var <NAME=VALUE>', 'a stand-in for a project variable (repeatable; secrets are not read offline)', collectVar)
    .addHelpText('after', '\nExit codes: 0 printed, 1 a manifest or the pipeline file is invalid, 2 bad usage or the file cannot be read.')
    .action(async (file: string, opts: RenderOptions) => {
      const { renderCommand } = await import('./render.js');
      setExit(await renderCommand(file, opts, out, err));
    });

  program
    .command('server')
    .description('run Slipway (every role in one process unless SLIPWAY_ROLES says otherwise; same as src/main.ts)')
    .addHelpText('after', '\nSettings come from the environment (docs/configuration.md); a bad one exits 2 with every problem listed.')
    .action(async () => {
      const { main } = await import('../main.js');
      await main();
      // Runs until a signal; the shutdown handler exits the process.
      await new Promise<never>(() => undefined);
    });

  return program;
}

/** Runs `slipway` with these arguments (without node and script) and answers the exit code. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  let code = 0;
  const program = createProgram(io, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    // --help, --version, `help`: 0. A bare `slipway` prints the help on stderr and exits 0, as it
    // always has. Everything else commander rejects (unknown command or option, missing or bad
    // value, extra arguments) is a usage error: 2, never 1, which means "invalid file" here.
    if (e.exitCode === 0 || (args.length === 0 && e.code === 'commander.help')) return 0;
    return EXIT_USAGE;
  }
  return code;
}
