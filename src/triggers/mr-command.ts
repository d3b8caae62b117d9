import type { NoteHook } from '../webhooks/events.js';

export const MR_COMMANDS = ['deploy', 'approve', 'reject', 'retry', 'cancel'] as const;
export type MrCommandName = (typeof MR_COMMANDS)[number];

/** A command from a merge-request comment, for the comment's author. */
export interface MrCommand {
  name: MrCommandName;
  /** What follows the command on its line (/deploy production → "production"; /reject <reason>). */
  arg: string;
  project: { id: number; path: string };
  iid: number;
  /** The comment's author as the (token-checked) delivery says. */
  user: { id: number; username: string };
  /** Set when the comment may not act at all (an edited comment): answered with this, unless the comment is ours. */
  refused?: string;
}

/**
 * A merge-request comment whose first line is `/deploy <env>`, `/approve`, `/reject <reason>`,
 * `/retry` or `/cancel` is a command; anything else is ignored silently (system notes, comments that
 * are not commands). Edited comments never act (`refused`): editing an old comment must not re-run
 * what it once asked for; the author is told so.
 * Pure; the comment is attacker-controlled text and is only matched, never run.
 */
export function commandOf(p: NoteHook): { command: MrCommand } | { ignored: string } {
  const a = p.object_attributes;
  if (a.system) return { ignored: 'system note' };
  if (a.noteable_type !== 'MergeRequest' || !p.merge_request) return { ignored: `a comment on a ${a.noteable_type} is not a command` };
  const first = a.note.trimStart().split('\n', 1)[0]?.trim() ?? '';
  const m = /^\/([a-z]+)(?:[ \t]+(.*))?$/.exec(first);
  const name = MR_COMMANDS.find((c) => c === m?.[1]);
  if (!m || !name) return { ignored: 'the comment is not a Slipway command' };
  if (!p.user) return { ignored: 'the comment carries no author' };
  const command: MrCommand = {
    name,
    arg: (m[2] ?? '').trim(),
    project: { id: p.project.id, path: p.project.path_with_namespace },
    iid: p.merge_request.iid,
    user: { id: p.user.id, username: p.user.username },
  };
  if (a.action === 'update') command.refused = `/${name} in an edited comment is not a command: post a new comment`;
  return { command };
}
