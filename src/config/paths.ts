import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where pipelines/ lives), whether running from src/ with tsx or from dist/. */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the Slipway package root');
    dir = up;
  }
  return dir;
}

export function builtinDeployTemplate(name: string): string {
  return path.join(packageRoot(), 'pipelines', 'deploy', `${name}.yml`);
}

/** A built-in template made of several files (the Kubernetes one): a directory beside the .yml ones. */
export function builtinDeployTemplateDir(name: string): string {
  return path.join(packageRoot(), 'pipelines', 'deploy', name);
}
