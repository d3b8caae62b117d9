import type { NotifyEventKind, NotifyFormat } from '../config/config.js';
import type { ChatEvent } from './chat-events.js';
import { inline } from './markdown.js';

const TITLE: Record<NotifyEventKind, string> = {
  'pipeline-failed': 'Pipeline failed',
  'approval-requested': 'Approval requested',
  deployed: 'Deployed',
  'rolled-back': 'Rolled back',
  'analysis-aborted': 'Analysis aborted',
};

function headline(e: ChatEvent): string {
  const where = e.environment ? ` to ${e.environment}` : e.job ? ` (${e.job})` : '';
  return `${TITLE[e.kind]}${where}: ${e.project} ${e.ref} @ ${e.sha.slice(0, 8)}`;
}

/**
 * Slack mrkdwn: &, < and > must be escaped (they start links and mentions); nothing else is special
 * inside a section. https://api.slack.com/reference/surfaces/formatting#escaping
 */
function slackEscape(text: string, max = 500): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const cut = flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
  return cut.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Plain text for `text` messages: one line per field, length-bounded; no markup is interpreted. */
function plain(e: ChatEvent): string {
  return [headline(e), e.reason.replace(/\s+/g, ' ').slice(0, 500), e.runUrl].join('\n');
}

/** Markdown shared by DingTalk and WeCom: repository text escaped so it renders as itself and pings nobody. */
function markdown(e: ChatEvent): string {
  return [`### ${inline(headline(e), 200)}`, '', `> ${inline(e.reason, 500)}`, '', `[Run ${e.runId}](${e.runUrl})`].join('\n');
}

/** Pure: the JSON body each format's webhook expects for one event. */
export function chatBody(format: NotifyFormat, e: ChatEvent): Record<string, unknown> {
  switch (format) {
    case 'slack':
      // Incoming webhook: `text` is required as the notification fallback when `blocks` are sent.
      // https://api.slack.com/messaging/webhooks , https://api.slack.com/reference/block-kit/blocks#section
      return {
        text: slackEscape(`${headline(e)} — ${e.reason}`, 300),
        blocks: [
          { type: 'section', text: { type: 'mrkdwn', text: `*${slackEscape(headline(e), 200)}*\n${slackEscape(e.reason)}` } },
          { type: 'context', elements: [{ type: 'mrkdwn', text: `<${e.runUrl}|Run ${e.runId}>` }] },
        ],
      };
    case 'dingtalk':
      // Custom robot: msgtype markdown with markdown.title (the notification preview) and markdown.text.
      // https://open.dingtalk.com/document/orgapp/custom-robots-send-group-messages ,
      // https://open.dingtalk.com/document/development/robot-message-type (markdown: title, text)
      return { msgtype: 'markdown', markdown: { title: TITLE[e.kind], text: markdown(e) } };
    case 'wecom':
      // Group robot: msgtype markdown with markdown.content (UTF-8, at most 4096 bytes).
      // https://developer.work.weixin.qq.com/document/path/91770 (was work.weixin.qq.com/api/doc/90000/90136/91770)
      return { msgtype: 'markdown', markdown: { content: cutBytes(markdown(e), 4096) } };
    case 'json':
      return {
        event: e.kind,
        run: e.runId,
        url: e.runUrl,
        project: e.project,
        ref: e.ref,
        sha: e.sha,
        job: e.job ?? null,
        environment: e.environment ?? null,
        reason: e.reason,
        at: e.at,
        text: plain(e),
      };
  }
}

function cutBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let out = text;
  while (Buffer.byteLength(out) > max - 3) out = out.slice(0, -1);
  return `${out}…`;
}
