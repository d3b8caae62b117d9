import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../config/paths.js';

/**
 * Built-in templates live in pipelines/templates/<name>/: `template.yml` (jobs to `include:`) and
 * `Dockerfile` (for `build: { template: <name> }`). Names are validated before they reach a path.
 */
export const BUILTIN_TEMPLATES = ['node', 'php-fpm', 'java-maven', 'static-site'] as const;

const NAME = /^[a-z0-9-]+$/;

export function builtinTemplateDir(name: string): string | null {
  if (!NAME.test(name)) return null;
  return path.join(packageRoot(), 'pipelines', 'templates', name);
}

/** The template's `template.yml`, or null when there is no such template. */
export function readBuiltinTemplate(name: string): string | null {
  const dir = builtinTemplateDir(name);
  if (!dir) return null;
  try {
    return readFileSync(path.join(dir, 'template.yml'), 'utf8');
  } catch {
    return null;
  }
}

/** Absolute path of a built-in template's Dockerfile (the build worker reads it from here). */
export function builtinDockerfilePath(name: string): string | null {
  const dir = builtinTemplateDir(name);
  return dir ? path.join(dir, 'Dockerfile') : null;
}

export function listBuiltinTemplates(): readonly string[] {
  return BUILTIN_TEMPLATES;
}
