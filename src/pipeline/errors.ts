/** A problem in a pipeline file, with where it is: what people need to fix it. */
export interface PipelineProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export function formatProblem(p: PipelineProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.message}`;
}

export class PipelineFileError extends Error {
  override readonly name = 'PipelineFileError';
  constructor(readonly problems: PipelineProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}
