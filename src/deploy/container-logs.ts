import type Dockerode from 'dockerode';

/**
 * Last lines of a non-TTY container's output. The engine returns one buffer
 * of multiplexed frames (8-byte header: stream, 3 zero bytes, big-endian
 * length); frames are split into lines in the order they were written.
 */
export async function lastLogLines(container: Dockerode.Container, tail: number, timeoutMs: number): Promise<string[]> {
  try {
    const buf = await container.logs({ stdout: true, stderr: true, tail, follow: false, abortSignal: AbortSignal.timeout(timeoutMs) });
    return demuxLines(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
  } catch {
    return []; // logs are a courtesy in an error message; never mask the real failure
  }
}

export function demuxLines(buf: Buffer): string[] {
  const lines: string[] = [];
  // Partial lines are kept per stream so stdout and stderr text never merge into one line.
  const pending = new Map<number, string>();
  let offset = 0;
  while (offset + 8 <= buf.length) {
    const stream = buf[offset] ?? 1;
    const size = buf.readUInt32BE(offset + 4);
    const parts = ((pending.get(stream) ?? '') + buf.subarray(offset + 8, offset + 8 + size).toString('utf8')).split('\n');
    pending.set(stream, parts.pop() ?? '');
    lines.push(...parts);
    offset += 8 + size;
  }
  lines.push(...pending.values());
  return lines.map((l) => l.replace(/\r$/, '')).filter((l) => l !== '');
}
