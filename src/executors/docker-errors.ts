/** dockerode rejects with an Error carrying the engine's HTTP status; read it without `any`. */
export function dockerStatus(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'statusCode' in err) {
    const code = (err as { statusCode: unknown }).statusCode;
    return typeof code === 'number' ? code : undefined;
  }
  return undefined;
}

/** The engine's own message (json.message) is clearer than dockerode's "(HTTP code 404) ...". */
export function dockerMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'json' in err) {
    const json = (err as { json: unknown }).json;
    if (typeof json === 'object' && json !== null && 'message' in json) {
      const msg = (json as { message: unknown }).message;
      if (typeof msg === 'string') return msg;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

export class ImageNotFoundError extends Error {
  override readonly name = 'ImageNotFoundError';
  constructor(
    readonly image: string,
    detail: string,
  ) {
    super(`image not found: ${image} (${detail})`);
  }
}
