import express, { type Router } from 'express';
import { z } from 'zod';
import type { Logger } from '../logging/logger.js';
import { jsonBodyErrors } from './plan-api.js';
import { validateVariable, type VariableStore } from '../variables/variable-store.js';

export interface VariablesApiDeps {
  store: VariableStore;
  logger: Logger;
}

const body = z.strictObject({
  value: z.string(),
  environment: z.string().default('*'),
  masked: z.boolean().default(false),
  protected: z.boolean().default(false),
});

/**
 * Project and environment variables (mount behind the API token):
 * GET /api/projects/:id/variables (masked values come back as null),
 * PUT /api/projects/:id/variables/:name {value, environment?, masked?, protected?} (upsert),
 * DELETE /api/projects/:id/variables/:name?environment=ENV.
 * Values are never logged; the audit line names the variable only.
 */
export function createVariablesApi(deps: VariablesApiDeps): Router {
  const router = express.Router();
  const projectOf = (raw: string): number | null => (/^\d{1,12}$/.test(raw) ? Number(raw) : null);

  router.get('/api/projects/:id/variables', async (req, res) => {
    const id = projectOf(req.params.id);
    if (id === null) {
      res.status(400).json({ error: 'project id must be numeric' });
      return;
    }
    res.json({ variables: await deps.store.list(id) });
  });

  router.put('/api/projects/:id/variables/:name', express.json({ limit: '128kb' }), async (req, res) => {
    const id = projectOf(req.params.id);
    const parsed = body.safeParse(req.body);
    if (id === null || !parsed.success) {
      res.status(400).json({
        error: id === null ? 'project id must be numeric' : parsed.error?.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
      });
      return;
    }
    const input = { name: req.params.name, ...parsed.data };
    const problem = validateVariable(input);
    if (problem) {
      res.status(400).json({ error: problem });
      return;
    }
    await deps.store.set(id, input);
    deps.logger.info({ project: id, variable: input.name, environment: input.environment, masked: input.masked, protected: input.protected }, 'variable set');
    res.json({ name: input.name, environment: input.environment, masked: input.masked, protected: input.protected, value: input.masked ? null : input.value });
  });

  router.delete('/api/projects/:id/variables/:name', async (req, res) => {
    const id = projectOf(req.params.id);
    if (id === null) {
      res.status(400).json({ error: 'project id must be numeric' });
      return;
    }
    const environment = typeof req.query['environment'] === 'string' ? req.query['environment'] : '*';
    const removed = await deps.store.remove(id, environment, req.params.name);
    if (!removed) {
      res.status(404).json({ error: `no variable ${req.params.name} for environment ${environment} in project ${id}` });
      return;
    }
    deps.logger.info({ project: id, variable: req.params.name, environment }, 'variable removed');
    res.status(204).end();
  });
  router.use(jsonBodyErrors());
  return router;
}
