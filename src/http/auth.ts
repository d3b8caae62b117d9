import type { NextFunction, Request, Response } from 'express';
import { safeEqual } from '../webhooks/verify-token.js';

/**
 * Bearer token on the API (the webhook has its own token), in the Authorization header only. A
 * token in the URL stays in browser history, proxy and access logs, so `?token=` is refused (even
 * beside a valid header) with the way to send it instead. The run page reads it from the link's
 * fragment, which browsers never send, and sends it as a header.
 */
export function requireToken(token: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.query['token'] !== undefined) {
      res.status(401).json({ error: 'the API token is not accepted in the URL (?token=): send it in the Authorization header (Authorization: Bearer <SLIPWAY_API_TOKEN>)' });
      return;
    }
    const header = req.get('authorization') ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!given || !safeEqual(given, token)) {
      res.status(401).json({ error: 'missing or invalid bearer token (Authorization: Bearer <SLIPWAY_API_TOKEN>)' });
      return;
    }
    next();
  };
}
