import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';
import type Dockerode from 'dockerode';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../../src/images/classic-builder.js';
import { buildImageWithBuildKit } from '../../src/buildkit/build.js';
import { git } from '../helpers/git-cli.js';
import { builtinDockerfilePath } from '../../src/pipeline/templates.js';
import { baseImageFromEnv, dockerFromEnv, uniqueId } from '../helpers/services.js';

// The built-in templates' Dockerfiles, built for real on the test engine with BuildKit (the image job's default). There is no Docker Hub
// here, so the OS/runtime layers are tiny local images FROM busybox whose `node`, `npm`, `php`,
// `php-fpm`, `nginx`, `mvn` and `java` are shell scripts standing in for the real programs: each
// does what the template relies on (npm ci fills node_modules, mvn package leaves a jar, nginx
// serves the server block it is given) and serves or prints what it was started with, so the test
// sees the image the template makes, as a user would run it.

const docker = dockerFromEnv();
const BUSYBOX = baseImageFromEnv();
const id = uniqueId();
const images: string[] = [];
const containers: Dockerode.Container[] = [];
const scratch: string[] = [];

type Files = Record<string, string | { content: string; mode: number }>;

function tarOf(files: Files): Readable {
  const p = pack();
  for (const [name, f] of Object.entries(files)) {
    const { content, mode } = typeof f === 'string' ? { content: f, mode: 0o644 } : f;
    p.entry({ name, mode }, content);
  }
  p.finalize();
  return p as unknown as Readable;
}

const script = (content: string) => ({ content, mode: 0o755 });

async function build(tag: string, context: Readable, dockerfile: string, buildArgs: Record<string, string> = {}): Promise<string[]> {
  const logs: string[] = [];
  try {
    await buildImage(docker, { context, dockerfile, tags: [tag], labels: { 'io.slipway.test': id }, buildArgs, onLog: (l) => logs.push(l), timeoutMs: 60_000 });
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs.join('\n')}`);
  }
  images.push(tag);
  return logs;
}

/** A base image: busybox plus stand-in programs in /usr/local/bin (on PATH, as in real images). */
async function baseImage(name: string, programs: Record<string, string>, extra = ''): Promise<string> {
  const tag = `slipway-test/${name}-${id}:1`;
  const files: Files = Object.fromEntries(Object.entries(programs).map(([n, c]) => [n, script(c)]));
  const dockerfile = [`FROM ${BUSYBOX}`, 'ENV PATH=/usr/local/bin:/bin', ...Object.keys(programs).map((n) => `COPY ${n} /usr/local/bin/${n}`), extra, ''].join(
    '\n',
  );
  await build(tag, tarOf({ ...files, Dockerfile: dockerfile }), 'Dockerfile');
  return tag;
}

/**
 * As the image job does it by default: the app's files committed to git and built with BuildKit
 * straight from the repository, the template's Dockerfile served beside them.
 */
async function buildTemplate(template: string, app: Files, buildArgs: Record<string, string>): Promise<{ tag: string; logs: string[] }> {
  const file = builtinDockerfilePath(template);
  if (!file) throw new Error(`no template ${template}`);
  const tag = `slipway-test/app-${template}-${id}:1`;
  const work = mkdtempSync(join(tmpdir(), `slipway-tpl-${template}-`));
  scratch.push(work);
  git(work, 'init', '-q', '-b', 'main');
  for (const [name, f] of Object.entries(app)) {
    const { content, mode } = typeof f === 'string' ? { content: f, mode: 0o644 } : f;
    mkdirSync(dirname(join(work, name)), { recursive: true });
    writeFileSync(join(work, name), content, { mode });
  }
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', 'app');
  const logs: string[] = [];
  try {
    const { imageId } = await buildImageWithBuildKit(docker, {
      mirrorDir: join(work, '.git'),
      sha: git(work, 'rev-parse', 'HEAD'),
      dockerfile: 'Dockerfile',
      dockerfileContent: readFileSync(file, 'utf8'),
      sharedKey: `templates/${template}-${id}`,
      tags: [tag],
      labels: { 'io.slipway.test': id },
      buildArgs,
      onLog: (l) => logs.push(l),
      timeoutMs: 60_000,
    });
    images.push(imageId);
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${logs.join('\n')}`);
  }
  images.push(tag);
  return { tag, logs };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Runs the image's own command (host network: the engine has no bridge), like the deploy target. */
async function run(image: string, env: Record<string, string>): Promise<Dockerode.Container> {
  const c = await docker.createContainer({
    Image: image,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    Tty: true, // raw logs, no stream multiplexing
    HostConfig: { NetworkMode: 'host' },
    Labels: { 'io.slipway.test': id },
  });
  containers.push(c);
  await c.start();
  return c;
}

const logsOf = async (c: Dockerode.Container) => (await c.logs({ stdout: true, stderr: true, follow: false })).toString('utf8');

async function get(c: Dockerode.Container, url: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      if (res.ok) return await res.text();
    } catch {
      // not listening yet
    }
    const state = (await c.inspect()).State;
    if (!state.Running || Date.now() > deadline)
      throw new Error(`${url} did not answer (container ${state.Status}, exit ${state.ExitCode}):\n${await logsOf(c)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function exited(c: Dockerode.Container): Promise<{ code: number; output: string }> {
  const { StatusCode } = (await c.wait()) as { StatusCode: number };
  return { code: StatusCode, output: await logsOf(c) };
}

// Stand-in for nginx: serves the server block written into conf.d with busybox httpd.
const NGINX = `#!/bin/sh
[ "$1" = -g ] && [ "$2" = "daemon off;" ] || { echo "nginx: run me in the foreground" >&2; exit 1; }
conf=/etc/nginx/conf.d/default.conf
port=$(sed -n 's/^ *listen \\([0-9]*\\);$/\\1/p' "$conf")
root=$(sed -n 's/^ *root \\(.*\\);$/\\1/p' "$conf")
[ -n "$port" ] && [ -d "$root" ] || { echo "nginx: bad server block in $conf" >&2; cat "$conf" >&2; exit 1; }
[ -f /tmp/fpm.txt ] && cp /tmp/fpm.txt "$root/fpm.txt"
cp "$conf" "$root/nginx.txt"
exec httpd -f -p "127.0.0.1:$port" -h "$root"
`;

// Reads the ini files PHP would scan (PHP_INI_SCAN_DIR, ':'-separated, empty = the built-in dir).
const SCANNED_INI = 'for d in $(echo "$PHP_INI_SCAN_DIR" | tr ":" " "); do cat "$d"/*.ini 2>/dev/null; done';

afterAll(async () => {
  await Promise.all(containers.map((c) => c.remove({ force: true }).catch(() => undefined)));
  for (const tag of images.reverse())
    await docker
      .getImage(tag)
      .remove({ force: true })
      .catch(() => undefined);
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe('built-in templates build from local base images and run', { timeout: 60_000 }, () => {
  let nodeBase = '';
  let phpBase = '';
  let jre = '';
  let maven = '';
  let httpdBase = '';
  let nginxBase = '';

  beforeAll(async () => {
    [nodeBase, phpBase, jre, maven, httpdBase, nginxBase] = await Promise.all([
      baseImage('node', {
        node: `#!/bin/sh
if [ "$1" = --version ]; then echo v22.0.0-fake; exit 0; fi
[ -f "$1" ] || { echo "node: cannot find module '$1'" >&2; exit 1; }
mkdir -p /tmp/www
{ echo "node $* in $(pwd) NODE_ENV=$NODE_ENV"; echo "modules: $(ls node_modules | tr '\\n' ' ')"; cat "$1"; } > /tmp/www/index.html
exec httpd -f -p "127.0.0.1:$PORT" -h /tmp/www
`,
        npm: `#!/bin/sh
[ "$1" = ci ] && [ -f package-lock.json ] || { echo "npm: only 'npm ci' with a package-lock.json" >&2; exit 1; }
omit=; [ "$2" = --omit=dev ] && omit=1
for dep in $(awk -v omit="$omit" '/"devDependencies"/ { dev = 1 } /"dependencies"/ { dev = 0 } /^ *"[a-z-]+": *"[~^0-9]/ { if (!(dev && omit)) { split($0, a, "\\""); print a[2] } }' package.json); do
  mkdir -p "node_modules/$dep"
done
`,
      }),
      baseImage(
        'php',
        {
          'php-fpm': `#!/bin/sh
[ "$1" = -D ] || { echo "php-fpm: expected -D" >&2; exit 1; }
{ echo "php-fpm $*"; ${SCANNED_INI}; cat /usr/local/etc/php-fpm.d/*.conf; } > /tmp/fpm.txt
`,
          php: `#!/bin/sh
limit=$(${SCANNED_INI} | sed -n 's/^memory_limit = //p' | tail -n 1)
echo "php $* (memory_limit=$limit)"
`,
          nginx: NGINX,
        },
        'RUN mkdir -p /usr/local/etc/php-fpm.d /etc/nginx/conf.d && printf "[www]\\npm.max_children = 5\\n" > /usr/local/etc/php-fpm.d/www.conf',
      ),
      baseImage('jre', {
        java: `#!/bin/sh
args="$*"; jar=; port=
for a in "$@"; do case "$a" in -Dserver.port=*) port=\${a#-Dserver.port=} ;; esac; done
while [ $# -gt 0 ]; do [ "$1" = -jar ] && jar=$2; shift; done
[ -f "$jar" ] && [ -n "$port" ] || { echo "java: usage: java [options] -Dserver.port=N -jar FILE" >&2; exit 1; }
mkdir -p /tmp/www && { echo "java $args"; cat "$jar"; } > /tmp/www/index.html
exec httpd -f -p "127.0.0.1:$port" -h /tmp/www
`,
      }),
      baseImage('maven', {
        mvn: `#!/bin/sh
case " $* " in *" package "*) ;; *) echo "mvn: only package" >&2; exit 1 ;; esac
artifact=$(sed -n 's|.*<artifactId>\\(.*\\)</artifactId>.*|\\1|p' pom.xml | head -n 1)
mkdir -p target && { echo "jar $artifact"; find src -type f | sort; } > "target/$artifact-1.0.jar"
`,
      }),
      baseImage('httpd', {}, 'RUN mkdir -p /etc && echo "web server layer: busybox httpd" > /etc/base-release'),
      baseImage('nginx', { nginx: NGINX }, 'RUN mkdir -p /etc/nginx/conf.d'),
    ]);
  });

  it('node: dependencies in their own layer (npm ci --omit=dev), the app runs as `node server.js` on $PORT', async () => {
    const { tag, logs } = await buildTemplate(
      'node',
      {
        'package.json': '{\n  "name": "cart",\n  "dependencies": {\n    "left-pad": "^1.3.0"\n  },\n  "devDependencies": {\n    "vitest": "^4.0.0"\n  }\n}\n',
        'package-lock.json': '{ "lockfileVersion": 3 }\n',
        'server.js': "require('http').createServer((q, s) => s.end('cart v1')).listen(process.env.PORT);\n",
      },
      { BASE_IMAGE: nodeBase },
    );
    expect(logs).toContainEqual(expect.stringMatching(/^#\d+ \[[^\]]*\d+\/\d+\] RUN npm ci --omit=dev$/));
    const port = await freePort();
    const c = await run(tag, { PORT: String(port) });
    const page = await get(c, `http://127.0.0.1:${port}/`);
    expect(page).toContain('node server.js in /app NODE_ENV=production');
    expect(page).toContain('modules: left-pad');
    expect(page).not.toContain('vitest');
    expect(page).toContain("s.end('cart v1')");
  });

  it('static-site on busybox httpd: serves SITE_DIR on $PORT', async () => {
    const { tag } = await buildTemplate(
      'static-site',
      { 'dist/index.html': '<h1>landing</h1>\n', 'src/ignored.md': 'x' },
      { BASE_IMAGE: httpdBase, SITE_DIR: 'dist' },
    );
    const port = await freePort();
    const c = await run(tag, { PORT: String(port) });
    expect(await get(c, `http://127.0.0.1:${port}/`)).toBe('<h1>landing</h1>\n');
    expect((await fetch(`http://127.0.0.1:${port}/ignored.md`)).status).toBe(404);
  });

  it('static-site on an nginx base: the server block for $PORT is written at start', async () => {
    const { tag } = await buildTemplate('static-site', { 'public/index.html': '<h1>docs</h1>\n' }, { BASE_IMAGE: nginxBase });
    const port = await freePort();
    const c = await run(tag, { PORT: String(port) });
    expect(await get(c, `http://127.0.0.1:${port}/`)).toBe('<h1>docs</h1>\n');
    expect(await get(c, `http://127.0.0.1:${port}/nginx.txt`)).toMatch(new RegExp(`listen ${port};\\n\\s+root /www;`));
  });

  it('java-maven: the jar is built in BUILDER_IMAGE and run by the JRE base with JAVA_OPTS on $PORT', async () => {
    const { tag, logs } = await buildTemplate(
      'java-maven',
      {
        'pom.xml': '<project><artifactId>orders</artifactId></project>\n',
        'src/main/java/App.java': 'class App {}\n',
        'README.md': 'not in the jar\n',
      },
      { BASE_IMAGE: jre, BUILDER_IMAGE: maven },
    );
    expect(logs).toContainEqual(expect.stringMatching(/^#\d+ \[[^\]]*\d+\/\d+\] RUN mvn -B -q package -DskipTests$/));
    const port = await freePort();
    const c = await run(tag, { PORT: String(port), JAVA_OPTS: '-Xmx64m' });
    const page = await get(c, `http://127.0.0.1:${port}/`);
    expect(page).toContain(`java -Xmx64m -Dserver.port=${port} -jar /app/app.jar`);
    expect(page).toContain('jar orders\nsrc/main/java/App.java');
  });

  describe('php-fpm: one image, the run mode and limits from the environment', () => {
    let tag = '';
    beforeAll(async () => {
      ({ tag } = await buildTemplate('php-fpm', { 'public/index.html': '<h1>shop</h1>\n', artisan: '<?php // console\n' }, { BASE_IMAGE: phpBase }));
    });

    it('fpm: php-fpm with the limits and pool size of this environment, behind nginx on $PORT', async () => {
      const port = await freePort();
      const c = await run(tag, { PORT: String(port), PHP_MEMORY_LIMIT: '512M', PHP_FPM_MAX_CHILDREN: '3' });
      expect(await get(c, `http://127.0.0.1:${port}/`)).toBe('<h1>shop</h1>\n');
      const fpm = await get(c, `http://127.0.0.1:${port}/fpm.txt`);
      expect(fpm).toContain('php-fpm -D');
      expect(fpm).toContain('memory_limit = 512M');
      expect(fpm).toContain('upload_max_filesize = 16M'); // the image's default
      expect(fpm).toContain('max_execution_time = 30');
      expect(fpm).toMatch(/pm\.max_children = 5\n\[www\]\npm\.max_children = 3\n$/); // the override comes last
      const nginx = await get(c, `http://127.0.0.1:${port}/nginx.txt`);
      expect(nginx).toContain(`listen ${port};`);
      expect(nginx).toContain('root /var/www/app/public;');
      expect(nginx).toContain('client_max_body_size 16M;');
      expect(nginx).toContain('fastcgi_pass 127.0.0.1:9000;');
    });

    it('queue: the queue worker as a cli process, with its own memory limit', async () => {
      const c = await run(tag, { APP_MODE: 'queue', PHP_MEMORY_LIMIT: '1G' });
      const { code, output } = await exited(c);
      expect(code).toBe(0);
      expect(output.trim()).toBe('php artisan queue:work --sleep=3 (memory_limit=1G)');
    });

    it('cron: the scheduler every CRON_INTERVAL seconds', async () => {
      const c = await run(tag, { APP_MODE: 'cron', CRON_INTERVAL: '1', CRON_COMMAND: 'php artisan schedule:run --verbose' });
      const deadline = Date.now() + 10_000;
      let output = '';
      while ((output.match(/schedule:run/g) ?? []).length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        output = await logsOf(c);
      }
      expect(output).toContain('php artisan schedule:run --verbose (memory_limit=256M)\r\n'.repeat(2));
      expect((await c.inspect()).State.Running).toBe(true);
    });

    it('an unknown APP_MODE fails at once and says which modes exist', async () => {
      const { code, output } = await exited(await run(tag, { APP_MODE: 'worker' }));
      expect(code).toBe(64);
      expect(output).toContain('unknown APP_MODE "worker" (fpm, queue, cron)');
    });
  });
});
