import type { Request, Response } from 'express';

// GitLab's offset pagination: page/per_page (default 20, max 100), X-* headers and a Link header,
// which gitbeaker follows to fetch every page.
export function paginate<T>(req: Request, res: Response, baseUrl: string, items: readonly T[]): T[] {
  const q = req.query as Record<string, string | undefined>;
  const perPage = Math.min(Math.max(Number.parseInt(q['per_page'] ?? '20', 10) || 20, 1), 100);
  const page = Math.max(Number.parseInt(q['page'] ?? '1', 10) || 1, 1);
  const totalPages = Math.max(Math.ceil(items.length / perPage), 1);
  const link = (p: number): string => {
    const u = new URL(req.originalUrl, baseUrl);
    u.searchParams.set('page', String(p));
    u.searchParams.set('per_page', String(perPage));
    return u.toString();
  };
  const links = [`<${link(1)}>; rel="first"`, `<${link(totalPages)}>; rel="last"`];
  if (page < totalPages) links.unshift(`<${link(page + 1)}>; rel="next"`);
  if (page > 1) links.unshift(`<${link(page - 1)}>; rel="prev"`);
  res.set({
    'X-Page': String(page),
    'X-Per-Page': String(perPage),
    'X-Total': String(items.length),
    'X-Total-Pages': String(totalPages),
    'X-Next-Page': page < totalPages ? String(page + 1) : '',
    'X-Prev-Page': page > 1 ? String(page - 1) : '',
    Link: links.join(', '),
  });
  return items.slice((page - 1) * perPage, page * perPage);
}
