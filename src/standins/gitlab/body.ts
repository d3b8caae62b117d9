import type { Request } from 'express';
import type { JsonValue } from './types.js';

export type ParsedBody = Record<string, string | JsonValue>;

// Reads a request body the way Grape would accept it: JSON, urlencoded form or multipart form
// (gitbeaker sends JSON by default and FormData for `isForm` calls).
export async function readBody(req: Request): Promise<ParsedBody | null> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return null;
  const raw = Buffer.concat(chunks);
  const type = (req.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json') {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new SyntaxError('JSON body must be an object');
    return parsed as ParsedBody;
  }
  if (type === 'application/x-www-form-urlencoded') {
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  if (type === 'multipart/form-data') {
    const form = await new Response(raw, { headers: { 'content-type': req.get('content-type') ?? '' } }).formData();
    const out: ParsedBody = {};
    form.forEach((v, k) => {
      out[k] = typeof v === 'string' ? v : v.name;
    });
    return out;
  }
  return { _raw: raw.toString('utf8') };
}

export function str(body: ParsedBody | null, key: string): string | undefined {
  const v = body?.[key];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}
