// Module boundaries of src/ (`npm run lint`). MAY_IMPORT is docs/architecture.md's module table,
// row for row: each folder under src/ (and each wiring file) may import only the modules its row
// names. test/unit/lint/module-table.test.ts fails when the two differ, so change both together.
// Node builtins and npm packages are always allowed; type-only imports count (tsPreCompilationDeps).

/** @type {Record<string, string[] | 'everything'>} */
const MAY_IMPORT = {
  'config/': [],
  'errors/': [],
  'logging/': [],
  'metrics/': [],
  'embedded/': ['errors/'],
  'executors/': ['errors/'],
  'registry/': [],
  'variables/': [],
  'gitlab/': [],
  'webhooks/': ['triggers/', 'logging/'],
  'triggers/': ['webhooks/'],
  'queues/': [],
  'runs/': ['triggers/', 'logging/', 'planning/'],
  'patterns/': [],
  'analysis/': [],
  'pipeline/': ['patterns/', 'config/', 'analysis/'],
  'planning/': ['pipeline/', 'triggers/', 'analysis/'],
  'git/': [],
  'caches/': ['patterns/', 'planning/', 'registry/'],
  'reports/': ['patterns/', 'planning/', 'runs/'],
  'sonar/': [],
  'images/': ['executors/', 'git/', 'registry/'],
  'buildkit/': ['images/', 'executors/', 'git/'],
  'notify/': ['gitlab/', 'runs/', 'logging/', 'config/'],
  'reconcile/': ['gitlab/', 'runs/', 'triggers/', 'queues/', 'logging/', 'config/'],
  'jobs/': ['config/', 'executors/', 'git/', 'gitlab/', 'logging/', 'notify/', 'planning/', 'queues/', 'runs/', 'triggers/', 'variables/'],
  'gates/': ['planning/'],
  'approvals/': ['gitlab/', 'runs/', 'planning/', 'triggers/', 'gates/'],
  'scheduler/': ['runs/', 'queues/', 'planning/', 'notify/', 'jobs/', 'approvals/'],
  'planner/': ['pipeline/', 'planning/', 'runs/', 'triggers/', 'gitlab/', 'jobs/', 'scheduler/', 'errors/'],
  'build-queue/': ['caches/', 'errors/', 'executors/', 'git/', 'images/', 'jobs/', 'logging/', 'pipeline/', 'planning/', 'registry/', 'reports/', 'runs/', 'scheduler/', 'sonar/'],
  'frontproxy/': [],
  'deploy/': ['config/', 'errors/', 'executors/', 'frontproxy/', 'jobs/', 'pipeline/', 'planning/', 'registry/', 'runs/', 'scheduler/', 'gates/', 'analysis/'],
  'kubernetes/': ['deploy/', 'pipeline/', 'config/'],
  'pod-executor/': ['executors/', 'kubernetes/', 'git/', 'errors/'],
  'releases/': ['deploy/', 'variables/', 'runs/', 'errors/'],
  'dora/': ['releases/', 'runs/', 'gitlab/'],
  'http/': ['webhooks/', 'runs/', 'triggers/', 'pipeline/', 'planning/', 'gitlab/', 'variables/', 'logging/', 'approvals/', 'releases/', 'dora/'],
  'web/': ['runs/', 'gitlab/', 'approvals/', 'planning/', 'logging/', 'config/', 'releases/', 'dora/'],
  'standins/': [],
  'cli/': ['pipeline/', 'planning/', 'runs/', 'config/', 'kubernetes/', 'standins/', 'slipway.ts', 'shutdown.ts', 'main.ts'],
  'roles/': 'everything',
  'slipway.ts': 'everything',
  'main.ts': 'everything',
  'shutdown.ts': 'everything',
  'api-token.ts': 'everything',
};

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// `config/` → everything under src/config/; `slipway.ts` → that one file.
const pathOf = (module) => `^src/${escape(module)}${module.endsWith('/') ? '' : '$'}`;
const anyOf = (modules) => (modules.length === 0 ? [] : [`(${modules.map(pathOf).join('|')})`]);
const MODULES = Object.keys(MAY_IMPORT);
const allowedText = (list) => (list.length === 0 ? 'nothing else in src/' : `only ${list.join(', ')}`);

// One rule per row that does not say "everything": from the module to any other module of src/ it
// does not name. Imports of standins/ are left to their own rule below, so a product module
// importing a stand-in is reported once, with the reason.
const boundaryRules = Object.entries(MAY_IMPORT)
  .filter(([, allowed]) => allowed !== 'everything')
  .map(([module, allowed]) => ({
    name: `boundary-${module.replace(/\/$/, '').replace(/\./g, '-')}`,
    severity: 'error',
    comment: `${module} may import ${allowedText(allowed)} (docs/architecture.md, module table), plus node builtins and npm packages`,
    from: { path: pathOf(module) },
    to: { path: '^src/', pathNot: [...anyOf([module, ...allowed]), pathOf('standins/')] },
  }));

// Who may import standins/ follows from the table too: the rows naming it or saying "everything".
const standinUsers = MODULES.filter((m) => MAY_IMPORT[m] === 'everything' || MAY_IMPORT[m].includes('standins/'));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...boundaryRules,
    {
      name: 'standins-only-in-demo-and-wiring',
      severity: 'error',
      comment: `only ${standinUsers.join(', ')} may import standins/: the stand-ins replace GitLab, Harbor and SonarQube for the demo and the tests; product code talks to the real services`,
      from: { path: '^src/', pathNot: [...anyOf(['standins/', ...standinUsers])] },
      to: { path: pathOf('standins/') },
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'import cycles are not allowed in src/ (type-only imports count): imports run one way, see docs/architecture.md',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'src-not-test',
      severity: 'error',
      comment: 'src/ may not import test/: product code must not depend on test helpers (stand-ins the demo needs live in src/standins/)',
      from: { path: '^src/' },
      to: { path: '^test/' },
    },
    {
      // An import dependency-cruiser cannot follow escapes every rule above; tsc runs first, so this
      // only fires when the two resolve differently.
      name: 'not-to-unresolvable-local',
      severity: 'error',
      comment: 'a relative import in src/ that dependency-cruiser cannot resolve would skip the boundary rules: point it at an existing file (`.js` for a `.ts` file)',
      from: { path: '^src/' },
      to: { couldNotResolve: true, path: '^\\.' },
    },
    {
      name: 'module-not-in-table',
      severity: 'error',
      comment: `every folder and file directly under src/ is a module with a row in docs/architecture.md's module table (and MAY_IMPORT in .dependency-cruiser.cjs); known: ${MODULES.join(', ')}`,
      from: { path: '^src/', pathNot: anyOf(MODULES) },
      to: {},
    },
    {
      name: 'import-of-module-not-in-table',
      severity: 'error',
      comment: `every folder and file directly under src/ is a module with a row in docs/architecture.md's module table (and MAY_IMPORT in .dependency-cruiser.cjs); known: ${MODULES.join(', ')}`,
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: anyOf(MODULES) },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // `import type` vanishes at run time but still couples modules: it counts.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
// For test/unit/lint/module-table.test.ts; not enumerable, so dependency-cruiser's config schema
// (no additional properties) does not see it.
Object.defineProperty(module.exports, 'MAY_IMPORT', { value: MAY_IMPORT, enumerable: false });
