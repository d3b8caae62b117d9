import {
  Branches,
  Commits,
  Deployments,
  GroupMembers,
  MergeRequestNotes,
  MergeRequests,
  ProjectHooks,
  ProjectMembers,
  Projects,
  RepositoryFiles,
  Users,
} from '@gitbeaker/rest';
import { createRequester } from './requester.js';

/**
 * gitbeaker's resources, as client.ts uses them. A module of its own so that gitbeaker (with its
 * request utilities, rate limiter and query-string code) is loaded on the first GitLab call, not
 * when a process starts: the http role answers /readyz without it (docs/benchmarks.md, start-up).
 */
export function createResources(opts: { url: string; token: string; timeoutMs: number }) {
  const resourceOpts = {
    host: opts.url.replace(/\/+$/, ''),
    token: opts.token,
    requesterFn: createRequester(opts.timeoutMs),
    // Timeouts and rate limiting are ours (requester.ts, retry.ts): switch gitbeaker's off.
    queryTimeout: null,
    rateLimits: {},
  };
  return {
    commits: new Commits(resourceOpts),
    files: new RepositoryFiles(resourceOpts),
    notes: new MergeRequestNotes(resourceOpts),
    members: new ProjectMembers(resourceOpts),
    users: new Users(resourceOpts),
    groupMembers: new GroupMembers(resourceOpts),
    projects: new Projects(resourceOpts),
    branches: new Branches(resourceOpts),
    mergeRequests: new MergeRequests(resourceOpts),
    hooks: new ProjectHooks(resourceOpts),
    deployments: new Deployments(resourceOpts),
    /** A resource of its own for a caller's token: the token is the caller's, never Slipway's. */
    usersAs: (token: string) => new Users({ ...resourceOpts, token }),
    /** The same for a signed-in user's OAuth access token (sent as a Bearer token, never Slipway's). */
    usersAsOAuth: (oauthToken: string) => new Users({ ...withoutToken(resourceOpts), oauthToken }),
    membersAsOAuth: (oauthToken: string) => new ProjectMembers({ ...withoutToken(resourceOpts), oauthToken }),
  };
}

function withoutToken<T extends { token: string }>(o: T): Omit<T, 'token'> {
  const { token: _ours, ...rest } = o;
  return rest;
}

export type GitlabResources = ReturnType<typeof createResources>;
