import { describe, expect, it } from 'vitest';
import { commandOf } from '../../../src/triggers/mr-command.js';
import { noteHookSchema } from '../../../src/webhooks/events.js';
import { fixture } from '../../helpers/gitlab-delivery.js';

// The real GitLab note payload (test/fixtures/gitlab) with the comment's text and action replaced.
const note = (text: string, attrs: Record<string, unknown> = {}) => {
  const body = fixture('note-hook-merge-request.json') as Record<string, Record<string, unknown>>;
  body['object_attributes'] = { ...body['object_attributes'], note: text, ...attrs };
  return commandOf(noteHookSchema.parse(body));
};

describe('commands in merge-request comments', () => {
  it('reads the command and its argument from the first line, for the comment author', () => {
    expect(note('/deploy production\nthe fix for #12')).toEqual({
      command: { name: 'deploy', arg: 'production', project: { id: 5, path: 'gitlab-org/gitlab-test' }, iid: 1, user: { id: 1, username: 'root' } },
    });
    expect(note('/reject   needs a changelog entry ')).toMatchObject({ command: { name: 'reject', arg: 'needs a changelog entry' } });
  });

  it('ignores comments that are not commands, system notes and other noteables', () => {
    expect(note('This MR needs work.')).toEqual({ ignored: 'the comment is not a Slipway command' });
    expect(note('please /deploy production')).toEqual({ ignored: 'the comment is not a Slipway command' });
    expect(note('/deployx production')).toEqual({ ignored: 'the comment is not a Slipway command' });
    expect(note('/approve', { system: true })).toEqual({ ignored: 'system note' });
    expect(note('/approve', { noteable_type: 'Commit' })).toEqual({ ignored: 'a comment on a Commit is not a command' });
  });

  it('an edited comment is refused, with the reason to answer', () => {
    expect(note('/approve', { action: 'update' })).toMatchObject({
      command: { name: 'approve', refused: '/approve in an edited comment is not a command: post a new comment' },
    });
  });
});
