import type { Response } from 'express';
import { CSRF_FIELD } from './guard.js';
import { html, type SafeHtml } from './html.js';
import type { OpenSession } from './sessions.js';

/**
 * Our pages load only our own script and style (no inline code, no CDN), may not be framed, and
 * are not cached: they show a signed-in person's view.
 */
export function pageHeaders(res: Response): void {
  res.set({
    'Content-Security-Policy':
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  });
}

export function csrfField(session: OpenSession): SafeHtml {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${session.csrf}">`;
}

export function sendPage(res: Response, status: number, title: string, session: OpenSession | undefined, body: SafeHtml, script?: string): void {
  pageHeaders(res);
  const nav = session
    ? html`<nav aria-label="Main"><a class="brand" href="/pipelines">Slipway</a>
<ul><li><a href="/pipelines">Pipelines</a></li><li><a href="/approvals">Approvals</a></li><li><a href="/environments">Environments</a></li>${session.admin ? html`<li><a href="/admin/queues">Queues</a></li>` : ''}</ul>
<form method="post" action="/sign-out" class="sign-out">${csrfField(session)}<span>${session.user.name} (@${session.user.username})</span> <button type="submit">Sign out</button></form></nav>`
    : html`<nav aria-label="Main"><a class="brand" href="/sign-in">Slipway</a></nav>`;
  res
    .status(status)
    .type('html')
    .send(
      html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Slipway</title><link rel="stylesheet" href="/ui/app.css">${script ? html`<script src="/ui/${script}" defer></script>` : ''}</head>
<body><header>${nav}</header><main id="main">${body}</main></body></html>`.value,
    );
}

/** A refusal: an HTML page for a browser's form, JSON for a script; the status is the same. */
export function sendProblem(
  req: { accepts(types: string[]): string | false },
  res: Response,
  status: number,
  error: string,
  session?: OpenSession,
  back?: string,
): void {
  if (req.accepts(['json', 'html']) === 'html') {
    sendPage(
      res,
      status,
      'Not done',
      session,
      html`<h1>Not done</h1><p role="alert" class="problem">${error}</p>${back ? html`<p><a href="${back}">Back</a></p>` : ''}`,
    );
    return;
  }
  res.status(status).json({ error });
}

export function when(iso: string | undefined): SafeHtml | string {
  if (!iso) return '';
  return html`<time datetime="${iso}">${iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z')}</time>`;
}

export function phaseBadge(phase: string): SafeHtml {
  return html`<span class="phase phase-${phase}">${phase}</span>`;
}
