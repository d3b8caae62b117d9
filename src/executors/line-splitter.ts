import { StringDecoder } from 'node:string_decoder';

// A line longer than this is emitted in pieces so one runaway step without
// newlines cannot grow memory without bound.
const MAX_LINE = 64 * 1024;

/**
 * Turns byte chunks into lines. A StringDecoder keeps multi-byte UTF-8
 * characters intact when a chunk boundary falls inside one.
 */
export function createLineSplitter(emit: (line: string) => void): {
  write(chunk: Buffer): void;
  end(): void;
} {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const drain = (): void => {
    let nl = pending.indexOf('\n');
    while (nl !== -1) {
      emit(pending.slice(0, nl).replace(/\r$/, ''));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf('\n');
    }
    while (pending.length > MAX_LINE) {
      emit(pending.slice(0, MAX_LINE));
      pending = pending.slice(MAX_LINE);
    }
  };
  return {
    write(chunk) {
      pending += decoder.write(chunk);
      drain();
    },
    end() {
      pending += decoder.end();
      drain();
      if (pending !== '') emit(pending.replace(/\r$/, ''));
      pending = '';
    },
  };
}
