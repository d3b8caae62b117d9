import type { MergeRequestNote } from './schema.js';

// The marker goes inside an HTML comment, so it must not be able to close it (or inject markup).
const MARKER = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$/;

export function hiddenMarker(marker: string): string {
  if (!MARKER.test(marker)) throw new TypeError(`invalid note marker: ${JSON.stringify(marker)}`);
  return `<!-- slipway:${marker} -->`;
}

// Our note: written by us (anyone can quote a marker, and GitLab would refuse to let us edit their
// note), not a system note, and starting with the marker line. If a past race left two, the oldest
// wins so every run edits the same one.
export function pickOwnNote(notes: readonly MergeRequestNote[], selfId: number, tag: string): MergeRequestNote | undefined {
  return notes.filter((n) => n.author.id === selfId && !n.system && (n.body === tag || n.body.startsWith(`${tag}\n`))).sort((a, b) => a.id - b.id)[0];
}
