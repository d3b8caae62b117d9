import type { NextFunction, Request, Response } from 'express';
import { safeEqual } from '../webhooks/verify-token.js';

/** Bearer token on the API (the webhook has its own token). */
export function requireToken(token: string) {
  return (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : (typeof req.query['token'] === 'string' ? req.query['token'] : '');
    if (!given || !safeEqual(given, token)) {
      res.status(401).json({ error: 'missing or invalid bearer token (Authorization: Bearer <SLIPWAY_API_TOKEN>)' });
      return;
    }
    next();
  };
}
