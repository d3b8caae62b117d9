import { describe, expect, it } from 'vitest';
import { redact } from '../../../src/git/git-exec.js';
import { mirrorDirName } from '../../../src/git/mirror-path.js';
import { assertSha } from '../../../src/git/sha.js';

describe('mirrorDirName', () => {
  it('maps path_with_namespace to one safe directory name', () => {
    expect(mirrorDirName('Group/sub-group/my.app')).toBe('group+sub-group+my.app.git');
    expect(mirrorDirName('app')).toBe('app.git');
  });

  it.each(['', '..', '../etc', '/abs', 'a//b', 'a/../b', 'a/.hidden', '-x', 'a b', 'a/b.', 'a\\b'])('rejects %j', (p) => {
    expect(() => mirrorDirName(p)).toThrow(/invalid GitLab project path/);
  });
});

describe('assertSha', () => {
  it('accepts only 40 lower-case hex', () => {
    expect(assertSha('a'.repeat(40))).toBe('a'.repeat(40));
    for (const bad of ['HEAD', 'a'.repeat(39), 'A'.repeat(40), `--${'a'.repeat(38)}`, `${'a'.repeat(40)}\n`]) {
      expect(() => assertSha(bad)).toThrow(/40-hex/);
    }
  });
});

describe('redact', () => {
  it('hides credentials in URLs', () => {
    expect(redact('fatal: https://oauth2:glpat-123@gitlab.example/x.git not found')).toBe('fatal: https://***@gitlab.example/x.git not found');
  });
});
