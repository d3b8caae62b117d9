// What POST /api/plan needs beyond parsing its request: the pipeline compiler (with yaml and the
// pipeline file's schemas) and the planner. plan-api.ts loads this on the first preview, not when
// the http role starts (docs/benchmarks.md, start-up).
export { compilePipeline } from '../pipeline/compile.js';
export { formatProblem } from '../pipeline/errors.js';
export { describePlan } from '../planning/describe-plan.js';
export { planPipeline } from '../planning/plan.js';
