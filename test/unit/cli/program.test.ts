import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createProgram, runCli, type CliIo } from '../../../src/cli/program.js';

// The `slipway` command tree in-process: what --help, --version and usage errors print and the
// exit code main.ts would exit with. test/integration/cli.test.ts runs the real process.
async function slipway(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    isTTY: false,
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

const COMMANDS = createProgram({ stdout: () => undefined, stderr: () => undefined, isTTY: false }, () => undefined).commands.map((c) => c.name());

describe('slipway --help, --version and usage errors', () => {
  it('has the documented commands', () => {
    expect(COMMANDS).toEqual(['demo', 'validate', 'plan', 'approve', 'reject', 'status', 'logs', 'run', 'rollback', 'resume', 'releases', 'render', 'server']);
  });

  it('--help lists every command with its summary, on stdout, exit 0', async () => {
    const r = await slipway(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: slipway \[options\] \[command\]/);
    for (const name of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${name}\\b.* {2,}\\S`, 'm'));
    expect(r.stdout).toContain('help [command]');
  });

  it.each(COMMANDS)('%s --help: its usage, options and exit codes on stdout, exit 0, the same as -h and `help <command>`', async (name) => {
    const [flag, short, viaHelp] = await Promise.all([slipway([name, '--help']), slipway([name, '-h']), slipway(['help', name])]);
    expect(flag.code).toBe(0);
    expect(flag.stderr).toBe('');
    expect(flag.stdout).toMatch(new RegExp(`^Usage: slipway ${name} `));
    expect(flag.stdout).toContain('-h, --help');
    expect(flag.stdout).toMatch(/\n(Exit codes|Settings come from the environment)/);
    expect(short).toEqual(flag);
    expect(viaHelp).toEqual(flag);
  });

  it('validate and plan --help name --json and the exit codes 0, 1, 2', async () => {
    const [validate, plan] = await Promise.all([slipway(['validate', '--help']), slipway(['plan', '--help'])]);
    expect(validate.stdout).toContain('--json');
    expect(validate.stdout).toContain('Exit codes: 0 valid, 1 invalid, 2 bad usage or the file cannot be read.');
    expect(plan.stdout).toContain('--json');
    expect(plan.stdout).toMatch(/--event <event>\s+the event to plan for \(choices: "merge", "mr", "push",\s+"tag", "manual", default: "merge"\)/);
    expect(plan.stdout).toContain('Exit codes: 0 planned, 1 invalid file, 2 bad usage or the file cannot be read.');
  });

  it('approve and reject need a server and tokens from the environment or files, never argv; reject needs a reason', async () => {
    const run = async (args: string[], env: NodeJS.ProcessEnv) => {
      let stderr = '';
      const code = await runCli(args, {
        stdout: () => undefined,
        stderr: (t) => {
          stderr += t;
        },
        isTTY: false,
        env,
      });
      return { code, stderr };
    };
    expect(await run(['approve', 'r1', 'deploy:production'], {})).toEqual({
      code: 2,
      stderr: 'slipway approve: the Slipway server is unknown: pass --url or set SLIPWAY_URL (http://host:port)\n',
    });
    expect(await run(['approve', 'r1', 'deploy:production'], { SLIPWAY_URL: 'http://127.0.0.1:1', SLIPWAY_TOKEN: 't' })).toEqual({
      code: 2,
      stderr:
        'slipway approve: your GitLab personal access token (it says who approves) is missing: set SLIPWAY_GITLAB_TOKEN or pass --gitlab-token-file <file>\n',
    });
    expect((await run(['reject', 'r1', 'deploy:production'], { SLIPWAY_URL: 'http://127.0.0.1:1' })).code).toBe(2);
    expect((await run(['approve', 'r1', 'deploy:production', '--token', 'secret'], {})).code).toBe(2);
    // A server that does not answer: 3, not 1 (nothing was decided).
    expect(
      await run(['approve', 'r1', 'deploy:production'], { SLIPWAY_URL: 'http://127.0.0.1:1', SLIPWAY_TOKEN: 't', SLIPWAY_GITLAB_TOKEN: 'g' }),
    ).toMatchObject({ code: 3 });
  });

  it('--version prints the package version, exit 0', async () => {
    const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) expect(await slipway([flag])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  });

  it('a bare `slipway` prints the help on stderr and exits 0', async () => {
    const r = await slipway([]);
    expect(r).toMatchObject({ code: 0, stdout: '' });
    expect(r.stderr).toMatch(/^Usage: slipway /);
  });

  it("an unknown command, an unknown option, a bad value or an extra argument: commander's message on stderr, exit 2", async () => {
    const cases: Array<[string[], string]> = [
      [['deploy'], "error: unknown command 'deploy'"],
      [['--verbose'], "error: unknown option '--verbose'"],
      [['validate', '--jsn'], "error: unknown option '--jsn'\n(Did you mean --json?)"],
      [['plan', '--evnt', 'mr'], "error: unknown option '--evnt'\n(Did you mean --event?)"],
      [['plan', '--event', 'deploy'], "error: option '--event <event>' argument 'deploy' is invalid. Allowed choices are merge, mr, push, tag, manual."],
      [['plan', '--ref'], "error: option '--ref <name>' argument missing"],
      [['plan', '--var', 'no-equals'], "error: option '--var <NAME=VALUE>' argument 'no-equals' is invalid. expected NAME=VALUE"],
      [['validate', 'a.yml', 'b.yml'], "error: too many arguments for 'validate'"],
      [['demo', '--keep'], "error: unknown option '--keep'"],
      [['help', 'deploy'], 'Usage: slipway [options] [command]'],
    ];
    const results = await Promise.all(cases.map(([args]) => slipway(args)));
    results.forEach((r, i) => {
      const [args, message] = cases[i] ?? [[], ''];
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr.startsWith(message), `${args.join(' ')}: ${r.stderr}`).toBe(true);
    });
  });
});
