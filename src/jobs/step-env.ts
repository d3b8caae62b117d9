import { predefinedVariables as predefined } from '../planning/predefined-variables.js';
import type { PipelineRequest } from '../triggers/types.js';

/**
 * Predefined variables for a step (the list is src/planning/predefined-variables.ts), then the
 * job's own. Event data (branch names, titles) reaches steps only this way, as environment values:
 * never spliced into a command line.
 */
export function predefinedVariables(
  runId: string,
  req: PipelineRequest,
  extra: Record<string, string> = {},
  built?: { image?: string; environment?: string },
): Record<string, string> {
  return {
    ...predefined({
      pipelineId: runId,
      request: req,
      ...(built?.image !== undefined ? { image: built.image } : {}),
      ...(built?.environment !== undefined ? { environment: built.environment } : {}),
    }),
    ...extra,
  };
}
