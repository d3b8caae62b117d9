import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { renderRelease } from '../kubernetes/templates.js';
import { compilePipeline } from '../pipeline/compile.js';
import { formatProblem } from '../pipeline/errors.js';
import { serviceNameOf } from '../planning/plan.js';
import { varsToStrings } from '../pipeline/pipeline-file.js';

type Out = (line: string) => void;

export interface RenderOptions {
  env: string;
  image: string;
  service?: string | undefined;
  commit?: string | undefined;
  run?: string | undefined;
  runUrl?: string | undefined;
  /** Stand-ins for project variables (secrets are not read offline). */
  var?: Record<string, string> | undefined;
}

/** A repository path inside `root`, or null when it leaves it. */
function inside(root: string, p: string): string | null {
  const full = path.resolve(root, p.replace(/^\/+/, ''));
  return full === root || full.startsWith(root + path.sep) ? full : null;
}

/**
 * `slipway render [file] --env <environment> --image <ref>`: the objects a Kubernetes deploy of this
 * working tree would apply, as one YAML stream, rendered and validated as the deploy worker does it
 * (repository manifests read from the working tree next to the pipeline file). Exit 0 printed,
 * 1 invalid (problems on stderr, file:line:column), 2 bad usage or unreadable.
 */
export async function renderCommand(file: string, opts: RenderOptions, out: Out, err: Out): Promise<number> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    err(`slipway: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  const root = path.dirname(path.resolve(file));
  const compiled = await compilePipeline(text, {
    fileName: file,
    reader: {
      local: (p) => {
        const full = inside(root, p);
        return Promise.resolve(full && existsSync(full) ? readFileSync(full, 'utf8') : null);
      },
      project: () => Promise.resolve('{}'),
    },
  });
  if (!compiled.ok) {
    for (const p of compiled.problems) err(formatProblem(p));
    return 1;
  }
  const deploy = compiled.file.deploy;
  const env = deploy?.environments[opts.env];
  if (!deploy || !env) {
    err(`slipway: ${file} has no deploy environment '${opts.env}'${deploy ? ` (environments: ${Object.keys(deploy.environments).join(', ')})` : ''}`);
    return 2;
  }
  if (env.target !== 'kubernetes') {
    err(`slipway: environment '${opts.env}' deploys to target ${env.target}; render shows Kubernetes manifests only`);
    return 2;
  }
  const service = opts.service ?? deploy.service ?? serviceNameOf(path.basename(root));
  const runId = opts.run ?? 'render';
  const rendered = await renderRelease(
    deploy.template,
    {
      identity: {
        service,
        environment: opts.env,
        commitSha: opts.commit ?? '0'.repeat(40),
        runId,
        runUrl: opts.runUrl ?? `http://127.0.0.1:8080/runs/${runId}`,
      },
      image: opts.image,
      port: env.port,
      healthPath: env.health,
      variables: varsToStrings(env.variables),
      secrets: opts.var ?? {},
    },
    {
      file: (p) => {
        const full = inside(root, p);
        return Promise.resolve(full && existsSync(full) && statSync(full).isFile() ? readFileSync(full, 'utf8') : null);
      },
      dir: (p) => {
        const full = inside(root, p);
        if (!full || !existsSync(full) || !statSync(full).isDirectory()) return Promise.resolve(null);
        const names = readdirSync(full)
          .filter((n) => /\.ya?ml$/.test(n) && statSync(path.join(full, n)).isFile())
          .sort();
        const clean = p.replace(/\/+$/, '');
        return Promise.resolve(names.map((n) => ({ name: `${clean}/${n}`, text: readFileSync(path.join(full, n), 'utf8') })));
      },
    },
  );
  if (!rendered.ok) {
    for (const p of rendered.problems) err(formatProblem(p));
    err(`${opts.env}: ${rendered.problems.length} problem${rendered.problems.length === 1 ? '' : 's'}; nothing would be applied`);
    return 1;
  }
  out(`# ${service} to ${opts.env} from ${rendered.source ?? deploy.template}; objects without a namespace go to each cluster's kubeconfig namespace`);
  for (const m of rendered.manifests) out(`---\n# ${m.file}:${m.line}\n${stringify(m.object).trimEnd()}`);
  return 0;
}
