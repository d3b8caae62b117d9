import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../../src/cli/program.js';

// `npm run demo` is `slipway demo`; README: in a terminal Slipway keeps running after the run,
// `npm run demo -- --exit` stops at once. The demo itself (Docker, registry) is not run here.
const runDemo = vi.hoisted(() => vi.fn(async (_opts: { keepRunning: boolean }) => 0));
vi.mock('../../../src/cli/demo.js', () => ({ runDemo }));

const io = (isTTY: boolean) => ({ stdout: () => undefined, stderr: () => undefined, isTTY });

describe('slipway demo arguments', () => {
  afterEach(() => runDemo.mockClear());

  it("keeps running in a terminal, stops with --exit or without a terminal; exits with the demo's code", async () => {
    expect(await runCli(['demo'], io(true))).toBe(0);
    expect(await runCli(['demo', '--exit'], io(true))).toBe(0);
    runDemo.mockResolvedValueOnce(1);
    expect(await runCli(['demo'], io(false))).toBe(1);
    expect(runDemo.mock.calls).toEqual([[{ keepRunning: true }], [{ keepRunning: false }], [{ keepRunning: false }]]);
  });
});
