import { compileSources, type CompileResult } from './compile.js';
import { loadYaml } from './yaml-source.js';

export { MAX_FILE_BYTES } from './yaml-source.js';
export type { PipelineFile } from './pipeline-file.js';
export type ParseResult = CompileResult;

/**
 * Parse and validate one `.slipway.yml` text on its own. Pure; never throws on any input; every
 * problem at once. A file with `include:` needs compilePipeline (compile.ts), which reads the
 * included files; here they are reported as unavailable.
 */
export function parsePipelineFile(text: string, fileName = '.slipway.yml'): ParseResult {
  const loaded = loadYaml(text, fileName);
  if (!loaded.ok) return loaded;
  if (loaded.source.data['include'] !== undefined) {
    const { line, column } = { line: 1, column: 1 };
    return {
      ok: false,
      problems: [{ file: fileName, line, column, message: 'this file uses include: check it with compilePipeline (slipway validate reads included files)' }],
    };
  }
  return compileSources(loaded.source, []);
}
