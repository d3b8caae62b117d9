/**
 * Bounds a promise for engine calls that take no AbortSignal (e.g. image
 * inspect in dockerode). The underlying request is not cancelled, but the
 * caller stops waiting and gets an error that says what timed out.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms}ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
