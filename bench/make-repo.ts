/**
 * Generates (once) a large synthetic git repository for the benchmarks: 10,000+ files with
 * realistic sizes (log-normal source files, some binary assets) and enough history that the
 * pack holds 100+ MiB. Deterministic (seeded); cached under /var/tmp/slipway-bench so later
 * runs reuse it. Written with `git fast-import`, which takes minutes where commits would take hours.
 *
 *   npx tsx bench/make-repo.ts            # prints the path of the bare repository
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { logNormal, prng, randomBytes } from './prng.js';

export interface SyntheticRepoOptions {
  cacheDir?: string;
  seed?: number;
  files?: number;
  /** Keep adding history until the packs reach this size. */
  minPackBytes?: number;
}

const WORDS =
  'const let return if else for while function class import export from async await new this value result error config index item list map filter reduce push length string number boolean null undefined true false'.split(
    ' ',
  );

export interface SyntheticRepo {
  dir: string;
  files: number;
  commits: number;
  packBytes: number;
}

export async function makeSyntheticRepo(opts: SyntheticRepoOptions = {}): Promise<SyntheticRepo> {
  const seed = opts.seed ?? 42;
  const files = opts.files ?? 10_000;
  const minPack = opts.minPackBytes ?? 100 * 1024 * 1024;
  const cacheDir = opts.cacheDir ?? '/var/tmp/slipway-bench';
  const dir = join(cacheDir, `synthetic-s${seed}-f${files}-p${minPack}.git`);
  const done = join(dir, 'slipway-bench.json');
  if (existsSync(done)) return { dir, ...(JSON.parse(execFileSync('cat', [done], { encoding: 'utf8' })) as Omit<SyntheticRepo, 'dir'>) };

  await rm(dir, { recursive: true, force: true });
  await mkdir(cacheDir, { recursive: true });
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', dir]);
  const rand = prng(seed);
  const text = new Map<string, string>();
  const binary: string[] = [];
  for (let i = 0; i < files; i++) {
    const area = i % 50 === 0 ? 'assets' : i % 7 === 0 ? 'docs' : 'src';
    const path = `${area}/m${Math.floor(i / 200)}/p${i % 13}/f${i}.${area === 'assets' ? 'bin' : area === 'docs' ? 'md' : 'ts'}`;
    if (area === 'assets') binary.push(path);
    else text.set(path, sourceText(rand, Math.min(200_000, Math.max(80, logNormal(rand, 2_500, 1.0)))));
  }

  let commits = 0;
  let time = 1_700_000_000;
  // Batch 0: the initial tree. Later batches: 20 commits each, touching ~60 source files and 4 assets.
  for (let batch = 0; ; batch++) {
    const stream: Buffer[] = [];
    const emit = (s: string | Buffer): void => void stream.push(typeof s === 'string' ? Buffer.from(s) : s);
    const commit = (msg: string, changes: Array<[string, Buffer]>): void => {
      emit(`commit refs/heads/main\ncommitter Bench <bench@example.com> ${time++} +0000\ndata ${Buffer.byteLength(msg)}\n${msg}\n`);
      if (commits > 0 && stream.length === 1) emit('from refs/heads/main^0\n');
      for (const [path, data] of changes) {
        emit(`M 100644 inline ${path}\ndata ${data.length}\n`);
        emit(data);
        emit('\n');
      }
      commits++;
    };
    if (batch === 0) {
      commit('initial import', [
        ...[...text].map(([p, c]): [string, Buffer] => [p, Buffer.from(c)]),
        ...binary.map((p): [string, Buffer] => [p, randomBytes(rand, 20_000 + Math.floor(rand() * 400_000))]),
      ]);
    } else {
      const paths = [...text.keys()];
      for (let c = 0; c < 20; c++) {
        const changes: Array<[string, Buffer]> = [];
        for (let k = 0; k < 60; k++) {
          const p = paths[Math.floor(rand() * paths.length)] as string;
          const next = editText(rand, text.get(p) ?? '');
          text.set(p, next);
          changes.push([p, Buffer.from(next)]);
        }
        for (let k = 0; k < 4; k++)
          changes.push([binary[Math.floor(rand() * binary.length)] as string, randomBytes(rand, 50_000 + Math.floor(rand() * 300_000))]);
        commit(`change ${commits}`, changes);
      }
    }
    await fastImport(dir, Buffer.concat(stream));
    const pack = packBytes(dir);
    if (batch > 0 && pack >= minPack) break;
  }
  execFileSync('git', ['--git-dir', dir, 'repack', '-a', '-d', '-q']);
  const result = { files: text.size + binary.length, commits, packBytes: packBytes(dir) };
  await writeFile(done, JSON.stringify(result));
  return { dir, ...result };
}

function sourceText(rand: () => number, size: number): string {
  const lines: string[] = [];
  let len = 0;
  while (len < size) {
    const n = 3 + Math.floor(rand() * 9);
    const words = Array.from({ length: n }, () =>
      rand() < 0.3 ? `id${Math.floor(rand() * 1e6).toString(36)}` : (WORDS[Math.floor(rand() * WORDS.length)] as string),
    );
    const line = `${'  '.repeat(Math.floor(rand() * 4))}${words.join(' ')};`;
    lines.push(line);
    len += line.length + 1;
  }
  return `${lines.join('\n')}\n`;
}

/** A small edit: a few lines replaced and a few appended, as a real change would. */
function editText(rand: () => number, before: string): string {
  const lines = before.split('\n');
  for (let k = 0; k < 3; k++) lines[Math.floor(rand() * lines.length)] = sourceText(rand, 40).trimEnd();
  return `${lines.join('\n')}${sourceText(rand, 200)}`;
}

function fastImport(dir: string, input: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', ['--git-dir', dir, 'fast-import', '--quiet', '--force'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`git fast-import exit ${code}: ${stderr}`))));
    child.stdin.end(input);
  });
}

export function packBytes(dir: string): number {
  const out = execFileSync('git', ['--git-dir', dir, 'count-objects', '-v'], { encoding: 'utf8' });
  return Number(/size-pack: (\d+)/.exec(out)?.[1] ?? 0) * 1024;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const t0 = Date.now();
  const repo = await makeSyntheticRepo();
  console.log(JSON.stringify({ ...repo, seconds: (Date.now() - t0) / 1000 }));
}
