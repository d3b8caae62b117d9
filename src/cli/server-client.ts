import { readFile } from 'node:fs/promises';

/** Exit codes of the commands that talk to a Slipway server; 2 (bad usage) is every command's. */
export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;

export interface ServerFlags {
  url?: string;
  tokenFile?: string;
}

export interface Server {
  url: string;
  apiToken: string;
}

/** The server could not be reached (or did not answer in time): exit 3. */
export class Unreachable extends Error {}

/**
 * The server's URL (--url, else SLIPWAY_URL) and Slipway's API token (--token-file, else
 * SLIPWAY_TOKEN; never a flag value, where every user of the machine could read it with ps).
 */
export async function serverOf(flags: ServerFlags, env: NodeJS.ProcessEnv): Promise<Server> {
  const url = (flags.url ?? env['SLIPWAY_URL'] ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\/[^\s]+$/.test(url)) throw new Error('the Slipway server is unknown: pass --url or set SLIPWAY_URL (http://host:port)');
  const apiToken = await secret(flags.tokenFile, env['SLIPWAY_TOKEN'], '--token-file', 'SLIPWAY_TOKEN', "Slipway's API token");
  return { url, apiToken };
}

/** A secret from the file a flag names, else from the environment. */
export async function secret(file: string | undefined, fromEnv: string | undefined, flag: string, name: string, what: string): Promise<string> {
  if (file !== undefined) {
    const text = (
      await readFile(file, 'utf8').catch((e: unknown) => {
        throw new Error(`cannot read ${flag} ${file}: ${e instanceof Error ? e.message : String(e)}`);
      })
    ).trim();
    if (text === '') throw new Error(`${flag} ${file} is empty`);
    return text;
  }
  if (fromEnv?.trim()) return fromEnv.trim();
  throw new Error(`${what} is missing: set ${name} or pass ${flag} <file>`);
}

/** Why a fetch failed, as the user can act on it ("connect ECONNREFUSED 127.0.0.1:1"). */
export function fetchFailure(e: unknown): string {
  return e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
}

/**
 * One API call with a deadline. Answers the status and the JSON body; throws Unreachable when the
 * server cannot be reached, does not answer in time, or refuses the API token (401).
 */
export async function callApi<T>(
  server: Server,
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<{ status: number; body: T & { error?: string } }> {
  let res: Response;
  try {
    res = await fetch(`${server.url}${path}`, {
      method,
      headers: {
        Authorization: `Bearer ${server.apiToken}`,
        ...(opts.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...opts.headers,
      },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
  } catch (e) {
    throw new Unreachable(`could not reach ${server.url}: ${fetchFailure(e)}`);
  }
  const body = (await res.json().catch(() => ({ error: `HTTP ${res.status} without a JSON body` }))) as T & { error?: string };
  if (res.status === 401) throw new Unreachable(`${server.url} refused the API token: ${body.error ?? 'HTTP 401'}`);
  return { status: res.status, body };
}
