import { spawn } from 'node:child_process';
import type { Request, Response } from 'express';
import { gitEnv } from './git.js';

// Serves the read side of git's smart HTTP protocol by running the real `git http-backend` CGI, as
// GitLab (through Workhorse and Gitaly) answers `git clone https://host/group/project.git`.
// Only upload-pack is offered: tests fetch, they never push through the fake.

// Matches /<path_with_namespace>.git/info/refs and /<path_with_namespace>.git/git-upload-pack.
const GIT_PATH = /^\/(.+)\.git\/(info\/refs|git-upload-pack)$/;

export function parseGitPath(path: string): { repoPath: string; action: 'info/refs' | 'git-upload-pack' } | null {
  const m = GIT_PATH.exec(path);
  if (!m || m[1] === undefined) return null;
  return { repoPath: m[1], action: m[2] === 'info/refs' ? 'info/refs' : 'git-upload-pack' };
}

export function runHttpBackend(req: Request, res: Response, projectRoot: string, pathInfo: string): void {
  const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
  const env: Record<string, string> = {
    ...(gitEnv as Record<string, string>),
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: pathInfo,
    REQUEST_METHOD: req.method,
    QUERY_STRING: query,
    CONTENT_TYPE: req.get('content-type') ?? '',
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
  };
  const length = req.get('content-length');
  if (length !== undefined) env['CONTENT_LENGTH'] = length;
  const encoding = req.get('content-encoding');
  if (encoding !== undefined) env['HTTP_CONTENT_ENCODING'] = encoding;
  // Protocol v2 is negotiated through this header; http-backend reads it as GIT_PROTOCOL.
  const protocol = req.get('git-protocol');
  if (protocol !== undefined) env['GIT_PROTOCOL'] = protocol;

  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  req.pipe(child.stdin);
  child.stdin.on('error', () => undefined); // the CGI may exit before reading everything; its answer still counts

  let head = Buffer.alloc(0);
  let headersDone = false;
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString('utf8');
  });
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = findHeaderEnd(head);
    if (!end) return;
    headersDone = true;
    applyCgiHeaders(res, head.subarray(0, end.at).toString('latin1'));
    const rest = head.subarray(end.at + end.len);
    if (rest.length > 0) res.write(rest);
  });
  child.on('error', (err) => {
    if (!res.headersSent) res.status(500).json({ message: `500 git http-backend: ${err.message}` });
  });
  child.on('close', (code) => {
    if (!headersDone && !res.headersSent) {
      res.status(500).json({ message: `500 git http-backend exited ${String(code)}: ${stderr.trim()}` });
      return;
    }
    res.end();
  });
}

function findHeaderEnd(buf: Buffer): { at: number; len: number } | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf !== -1 && (lf === -1 || crlf < lf)) return { at: crlf, len: 4 };
  if (lf !== -1) return { at: lf, len: 2 };
  return null;
}

function applyCgiHeaders(res: Response, block: string): void {
  let status = 200;
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    // CGI's Status pseudo-header carries the HTTP status ("Status: 404 Not Found").
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else res.setHeader(name, value);
  }
  res.status(status);
}
