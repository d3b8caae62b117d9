import { describe, expect, it } from 'vitest';
import { createLineSplitter } from '../../../src/executors/line-splitter.js';

describe('createLineSplitter', () => {
  it('joins chunks, splits lines, strips CR and keeps split UTF-8 intact', () => {
    const lines: string[] = [];
    const s = createLineSplitter((l) => lines.push(l));
    const bytes = Buffer.from('a\r\nbé\nc', 'utf8');
    for (const b of bytes) s.write(Buffer.from([b]));
    s.end();
    expect(lines).toEqual(['a', 'bé', 'c']);
  });
});
