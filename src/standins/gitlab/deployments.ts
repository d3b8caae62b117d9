import type { Request, Response, Router } from 'express';
import { str } from './body.js';
import type { ParsedBody } from './body.js';
import { resolveCommit } from './repo-queries.js';
import type { FakeState } from './state.js';
import type { Deployment, DeploymentStatus, FakeProject } from './types.js';

// https://docs.gitlab.com/ee/api/deployments.html: "Create a deployment" (POST, 201, the environment
// is found or created by name, sha and ref must exist in the repository, else 400 with the
// validation errors) and "Update a deployment" (PUT, 200; GitLab's Deployment state machine:
// running only from created, success/failed/canceled from any other state; a refused transition
// is a 400). A deployment made by a CI job (deployable set) cannot be updated through the API:
// the fake only holds API-made ones (`deployable: null`).

type Handler = (req: Request, res: Response, project: FakeProject, body: ParsedBody | null) => Promise<void> | void;

const API_STATUSES: readonly DeploymentStatus[] = ['running', 'success', 'failed', 'canceled'];

// From which states each requested status may be reached (app/models/deployment.rb: run, succeed, drop, cancel).
const FROM: Record<string, readonly DeploymentStatus[]> = {
  running: ['created'],
  success: ['created', 'running', 'failed', 'canceled', 'blocked'],
  failed: ['created', 'running', 'success', 'canceled', 'blocked'],
  canceled: ['created', 'running', 'success', 'failed', 'blocked'],
};

export function deploymentRoutes(r: Router, state: FakeState, project: (h: Handler) => (req: Request, res: Response) => Promise<void>): void {
  r.post(
    '/projects/:id/deployments',
    project(async (_req, res, p, body) => {
      const environment = str(body, 'environment');
      const sha = str(body, 'sha');
      const ref = str(body, 'ref');
      const tag = str(body, 'tag');
      const status = str(body, 'status');
      const missing = [
        ['environment', environment],
        ['sha', sha],
        ['ref', ref],
        ['tag', tag],
        ['status', status],
      ]
        .filter(([, v]) => v === undefined)
        .map(([k]) => `${k} is missing`);
      if (missing.length > 0 || environment === undefined || sha === undefined || ref === undefined || status === undefined) {
        res.status(400).json({ error: missing.join(', ') });
        return;
      }
      const wanted = API_STATUSES.find((s) => s === status);
      if (!wanted) {
        res.status(400).json({ error: 'status does not have a valid value' });
        return;
      }
      const commit = await resolveCommit(p.bareDir, sha);
      const refCommit = await resolveCommit(p.bareDir, tag === 'true' ? `refs/tags/${ref}` : `refs/heads/${ref}`);
      const errors: Record<string, string[]> = {};
      if (!commit) errors['sha'] = ['The commit does not exist'];
      if (!refCommit) errors['ref'] = ['The branch or tag does not exist'];
      if (Object.keys(errors).length > 0) {
        res.status(400).json({ message: errors });
        return;
      }
      let env = state.environments.find((e) => e.projectId === p.id && e.environment.name === environment);
      if (!env) {
        env = { projectId: p.id, environment: { id: state.id(), name: environment, external_url: null } };
        state.environments.push(env);
      }
      const now = new Date().toISOString();
      const iid = state.deployments.filter((d) => d.projectId === p.id).length + 1;
      const deployment: Deployment = {
        id: state.id(),
        iid,
        ref: ref,
        sha: commit ?? sha,
        created_at: now,
        updated_at: now,
        status: wanted,
        user: state.currentUser,
        environment: { ...env.environment },
        deployable: null,
      };
      state.deployments.push({ projectId: p.id, deployment, history: [wanted] });
      res.status(201).json(deployment);
    }),
  );

  r.put(
    '/projects/:id/deployments/:deployment_id',
    project((req, res, p, body) => {
      const id = Number((req.params as Record<string, string | undefined>)['deployment_id']);
      const held = state.deployments.find((d) => d.projectId === p.id && d.deployment.id === id);
      if (!held) {
        res.status(404).json({ message: '404 Not found' });
        return;
      }
      const status = str(body, 'status');
      const wanted = API_STATUSES.find((s) => s === status);
      if (!wanted) {
        res.status(400).json({ error: status === undefined ? 'status is missing' : 'status does not have a valid value' });
        return;
      }
      if (!FROM[wanted]?.includes(held.deployment.status)) {
        res.status(400).json({ message: [`Status cannot transition from ${held.deployment.status} to ${wanted}`] });
        return;
      }
      held.deployment.status = wanted;
      held.deployment.updated_at = new Date().toISOString();
      held.history.push(wanted);
      res.json(held.deployment);
    }),
  );

  r.get(
    '/projects/:id/deployments/:deployment_id',
    project((req, res, p) => {
      const id = Number((req.params as Record<string, string | undefined>)['deployment_id']);
      const held = state.deployments.find((d) => d.projectId === p.id && d.deployment.id === id);
      if (!held) res.status(404).json({ message: '404 Not found' });
      else res.json(held.deployment);
    }),
  );
}
