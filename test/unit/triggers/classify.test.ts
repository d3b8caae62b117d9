import { describe, expect, it } from 'vitest';
import { classify } from '../../../src/triggers/classify.js';
import { parseEvent } from '../../../src/webhooks/events.js';
import { fixture } from '../../helpers/gitlab-delivery.js';

const decide = (event: string, body: unknown) => {
  const parsed = parseEvent(event, body);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed));
  return classify(parsed.event);
};

describe('classify', () => {
  it('a merge builds and deploys the merge commit on the target branch', () => {
    expect(decide('Merge Request Hook', fixture('merge-request-hook-merge.json'))).toMatchObject({
      kind: 'full', event: 'merge', sha: '78a76ee6b4992a6baf64c59fc4c44c7323d60438', ref: 'master',
      mergeRequest: { iid: 1, sourceBranch: 'feature', targetBranch: 'master', fork: false },
    });
  });

  it('a fast-forward merge (no merge commit) uses the last commit', () => {
    const body = fixture('merge-request-hook-merge.json') as { object_attributes: Record<string, unknown> };
    body.object_attributes['merge_commit_sha'] = null;
    expect(decide('Merge Request Hook', body)).toMatchObject({ kind: 'full', sha: 'c4c79227ed610f1151f05bbc5be33b4f340d39c8' });
  });

  it('closing or approving a merge request starts nothing', () => {
    for (const action of ['close', 'approved', 'unapproved']) {
      const body = fixture('merge-request-hook-open.json') as { object_attributes: Record<string, unknown> };
      body.object_attributes['action'] = action;
      expect(decide('Merge Request Hook', body)).toEqual({ ignored: `merge request action '${action}' does not start a pipeline` });
    }
  });

  it('a fork merge request is marked as such', () => {
    const body = fixture('merge-request-hook-open.json') as { object_attributes: Record<string, unknown> };
    body.object_attributes['source_project_id'] = 99;
    expect(decide('Merge Request Hook', body)).toMatchObject({ kind: 'ci', mergeRequest: { fork: true } });
  });

  it('system notes and tag deletions are ignored with reasons', () => {
    const note = fixture('note-hook-merge-request.json') as { object_attributes: Record<string, unknown> };
    note.object_attributes['system'] = true;
    expect(decide('Note Hook', note)).toEqual({ ignored: 'system note' });
    const tag = fixture('tag-push-hook.json');
    tag['after'] = '0'.repeat(40);
    tag['checkout_sha'] = null;
    expect(decide('Tag Push Hook', tag)).toEqual({ ignored: 'tag deleted' });
  });
});
