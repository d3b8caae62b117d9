import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { packageRoot } from '../config/paths.js';

/** The files of pipelines/examples/hello-service, with the pre port and greeting set as asked. */
export function sampleServiceFiles(opts: { port?: number; greeting?: string; health?: string; timeout?: string } = {}): Record<string, string> {
  const root = path.join(packageRoot(), 'pipelines', 'examples', 'hello-service');
  const files: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else files[path.relative(root, full)] = readFileSync(full, 'utf8');
    }
  };
  walk(root);
  const doc = parseDocument(files['.slipway.yml'] ?? '');
  if (opts.port !== undefined) doc.setIn(['deploy', 'environments', 'pre', 'port'], opts.port);
  if (opts.health !== undefined) doc.setIn(['deploy', 'environments', 'pre', 'health'], opts.health);
  if (opts.timeout !== undefined) doc.setIn(['deploy', 'environments', 'pre', 'timeout'], opts.timeout);
  files['.slipway.yml'] = doc.toString();
  if (opts.greeting !== undefined) {
    files['www/index.html'] = (files['www/index.html'] ?? '').replace('Hello from hello-service', opts.greeting);
    files['test/run.sh'] = (files['test/run.sh'] ?? '').replace('Hello from hello-service', opts.greeting);
  }
  return files;
}
