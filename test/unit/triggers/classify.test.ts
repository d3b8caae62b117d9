import { describe, expect, it } from 'vitest';
import { classify, coveringTriggerKeys } from '../../../src/triggers/classify.js';
import { pipelineRef, triggerKey } from '../../../src/triggers/types.js';
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
      kind: 'full',
      event: 'merge',
      sha: '78a76ee6b4992a6baf64c59fc4c44c7323d60438',
      ref: 'master',
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

describe('trigger keys: a pipeline is project + SHA + kind + ref', () => {
  const request = (event: string, body: Record<string, unknown>) => {
    const d = decide(event, body);
    if ('ignored' in d) throw new Error(d.ignored);
    return d;
  };
  const sha = 'da1560886d4f094c3e6c9ef40349f7d38b5d27d7';
  const push = (branch: string) =>
    request('Push Hook', {
      ...fixture('push-hook.json'),
      project: fixture('merge-request-hook-open.json')['project'],
      ref: `refs/heads/${branch}`,
      after: sha,
      checkout_sha: sha,
    });
  const opened = () => request('Merge Request Hook', fixture('merge-request-hook-open.json'));

  it('a merge request runs for refs/merge-requests/<iid>/head, its branch push for refs/heads/<branch>', () => {
    expect(pipelineRef(opened())).toBe('refs/merge-requests/1/head');
    expect(pipelineRef(push('ms-viewport'))).toBe('refs/heads/ms-viewport');
  });

  it('the MR and the push of its branch at one SHA are two pipelines; so are two branches', () => {
    expect(opened().sha).toBe(sha);
    expect(coveringTriggerKeys(push('ms-viewport'))).not.toContain(triggerKey(opened()));
    expect(coveringTriggerKeys(push('release-1'))).not.toContain(triggerKey(push('ms-viewport')));
    expect(coveringTriggerKeys(push('ms-viewport'))).toContain(triggerKey(push('ms-viewport')));
  });

  it('the push a merge causes on the target branch is covered by the merge', () => {
    const merge = request('Merge Request Hook', fixture('merge-request-hook-merge.json'));
    const pushed = request('Push Hook', {
      ...fixture('push-hook.json'),
      project: fixture('merge-request-hook-merge.json')['project'],
      ref: 'refs/heads/master',
      after: merge.sha,
      checkout_sha: merge.sha,
    });
    expect(coveringTriggerKeys(pushed)).toContain(triggerKey(merge));
  });
});
