import type { NextFunction, Request, Response } from 'express';
import { safeEqual } from '../webhooks/verify-token.js';

/**
 * Bearer token on the API (the webhook has its own token), in the Authorization header only. A
 * token in the URL stays in browser history, proxy and access logs, so `?token=` is refused (even
 * beside a valid header) with the way to send it instead. The run page reads it from the link's
 * fragment, which browsers never send, and sends it as a header.
 */
export function requireToken(token: string | readonly string[], says: { what: string; names: string } = { what: 'the API token', names: 'SLIPWAY_API_TOKEN' }) {
  const { what, names } = says;
  const tokens = (typeof token === 'string' ? [token] : token).filter((t) => t.length > 0);
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.query['token'] !== undefined) {
      res.status(401).json({ error: `${what} is not accepted in the URL (?token=): send it in the Authorization header (Authorization: Bearer <${names}>)` });
      return;
    }
    const header = req.get('authorization') ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    // Every token is compared (no early exit), so the time taken does not say which one came close.
    const matches = tokens.map((t) => given.length > 0 && safeEqual(given, t));
    if (!matches.includes(true)) {
      res.status(401).json({ error: `missing or invalid bearer token (Authorization: Bearer <${names}>)` });
      return;
    }
    next();
  };
}
