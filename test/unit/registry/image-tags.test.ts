import { describe, expect, it } from 'vitest';
import { doublestarMatch } from '../../../src/registry/doublestar.js';
import { branchTag, imageTags } from '../../../src/registry/image-tags.js';

const sha = '0123456789abcdef0123456789abcdef01234567';

describe('imageTags', () => {
  it('tags a default-branch build with the short sha and the branch, and latest only when configured', () => {
    expect(imageTags({ sha, branch: 'main', defaultBranch: 'main', latestOnDefault: false })).toEqual(['01234567', 'main']);
    expect(imageTags({ sha, branch: 'main', defaultBranch: 'main', latestOnDefault: true })).toEqual(['01234567', 'main', 'latest']);
    expect(imageTags({ sha, branch: 'dev', defaultBranch: 'main', latestOnDefault: true })).toEqual(['01234567', 'dev']);
  });

  it('adds the version of semver git tags, without the v and with + made valid', () => {
    expect(imageTags({ sha, gitTags: ['v1.4.0', 'v2.0.0-rc.1+build.7', 'nightly', 'v1.2'], defaultBranch: 'main', latestOnDefault: true })).toEqual([
      '01234567',
      '1.4.0',
      '2.0.0-rc.1-build.7',
    ]);
  });

  it('makes any branch name a valid Docker tag', () => {
    expect(branchTag('feature/JIRA-12_login')).toBe('feature-JIRA-12_login');
    expect(branchTag('.hidden/-x')).toBe('hidden-x');
    expect(branchTag('ünïcødé')).toBe('n-c-d');
    expect(branchTag('日本語')).toBeUndefined();
    expect(branchTag('a'.repeat(300))).toHaveLength(128);
    for (const b of ['$(rm -rf /)', '../../x', 'a b\tc\n', '-', `${'x'.repeat(200)}/---`]) {
      const t = branchTag(b);
      if (t !== undefined) expect(t).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
    }
  });

  it('never lets a branch name move latest, a version or a sha tag', () => {
    expect(imageTags({ sha, branch: 'latest', defaultBranch: 'main', latestOnDefault: true })).toEqual(['01234567', 'branch-latest']);
    expect(branchTag('v1.2.3')).toBe('branch-v1.2.3');
    expect(branchTag('deadbeef')).toBe('branch-deadbeef');
  });

  it('rejects something that is not a full sha', () => {
    expect(() => imageTags({ sha: 'HEAD', defaultBranch: 'main', latestOnDefault: false })).toThrow('not a commit sha');
  });
});

describe('doublestarMatch (Harbor selectors)', () => {
  it.each([
    ['**', 'a/b/c', true],
    ['*', 'a/b', false],
    ['svc/*', 'svc/api', true],
    ['v*', 'v1.0', true],
    ['{v*,release-*}', 'release-3', true],
    ['{v*,release-*}', 'main', false],
    ['[0-9]*', '1.2.3', true],
    ['1.?', '1.x', true],
    ['1.2', '102', false],
  ])('%s on %s → %s', (pattern, value, expected) => {
    expect(doublestarMatch(pattern, value)).toBe(expected);
  });
});
