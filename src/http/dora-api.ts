import express, { type Router } from 'express';
import { DEFAULT_DAYS, type DoraDeps, doraReports } from '../dora/dora.js';

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A window longer than this would count releases the history no longer keeps anyway. */
const MAX_DAYS = 366;

/** The window of `since` / `until` (ISO dates or times), or the problems with them. */
export function parseWindow(sinceText: string | undefined, untilText: string | undefined, now = new Date()): { since: Date; until: Date } | { error: string } {
  const problems: string[] = [];
  const parse = (name: string, v: string | undefined): Date | undefined => {
    if (v === undefined || v === '') return undefined;
    const d = new Date(v);
    if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(d.getTime())) {
      problems.push(`${name} must be an ISO 8601 date or time (2024-05-01 or 2024-05-01T12:00:00Z), got ${JSON.stringify(v.slice(0, 40))}`);
      return undefined;
    }
    return d;
  };
  const until = parse('until', untilText) ?? now;
  const since = parse('since', sinceText) ?? new Date(until.getTime() - DEFAULT_DAYS * 86_400_000);
  if (problems.length === 0 && since.getTime() >= until.getTime()) problems.push('since must be before until');
  if (problems.length === 0 && until.getTime() - since.getTime() > MAX_DAYS * 86_400_000) problems.push(`the window may be at most ${MAX_DAYS} days`);
  return problems.length > 0 ? { error: problems.join('; ') } : { since, until };
}

/**
 * GET /api/dora?service=&environment=&since=&until= → { since, until, reports: DoraReport[] }: DORA per
 * known (service, environment), filtered by the ones given; the window defaults to the last 30 days.
 * 400 names a bad parameter; 404 when a service or environment was asked for and nothing of it is recorded.
 */
export function createDoraApi(deps: DoraDeps): Router {
  const router = express.Router();
  router.get('/api/dora', async (req, res) => {
    const q = (name: string) => (typeof req.query[name] === 'string' ? (req.query[name] as string) : undefined);
    const service = q('service') || undefined;
    const environment = q('environment') || undefined;
    const bad = [
      ...(service !== undefined && !NAME.test(service) ? [`service ${JSON.stringify(service.slice(0, 70))}`] : []),
      ...(environment !== undefined && !NAME.test(environment) ? [`environment ${JSON.stringify(environment.slice(0, 70))}`] : []),
    ];
    if (bad.length > 0) {
      res.status(400).json({ error: `${bad.join(' and ')}: not a name (lowercase letters, digits and -)` });
      return;
    }
    const window = parseWindow(q('since'), q('until'));
    if ('error' in window) {
      res.status(400).json({ error: window.error });
      return;
    }
    const reports = await doraReports(deps, { ...(service ? { service } : {}), ...(environment ? { environment } : {}) }, window);
    if (reports.length === 0 && (service || environment)) {
      res.status(404).json({
        error: `no release of ${service ? `service ${service}` : 'any service'}${environment ? ` in environment ${environment}` : ''} is recorded: nothing was deployed there`,
      });
      return;
    }
    res.json({ since: window.since.toISOString(), until: window.until.toISOString(), reports });
  });
  return router;
}
