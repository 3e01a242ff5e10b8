/**
 * One escaping function per chat platform, for everything that did not come from us
 * (execution ids from trackers, reasons typed by people, provider errors, labels). Text we
 * send is built from `Markup`: `esc` makes outside text inert, `bold`/`code` add our own
 * emphasis. Escaping happens before any truncation (see `clip`), so a cut never splits an
 * entity or leaves a dangling escape.
 */
export interface Markup {
  /** Outside text made inert: no links, mentions or formatting of its own. */
  esc(s: string): string;
  /** Our emphasis around already-escaped text. */
  bold(s: string): string;
  /** Our code span around already-escaped text. */
  code(s: string): string;
}

/** Slack mrkdwn: `&`, `<`, `>` are the control characters (links, mentions `<!channel>`). */
export const slackEscape = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Discord markdown: line breaks become spaces (so nothing outside can start a heading, list
 * or quote line), and every inline formatting character is backslash-escaped; `<` and `@`
 * start mentions and links, `[` masked links. Messages also go with `allowed_mentions: { parse: [] }`.
 */
export const discordEscape = (s: string): string => s.replace(/[\r\n]+/g, ' ').replace(/[\\*_~`|>[\]()<@]/g, (c) => `\\${c}`);

/** Teams text (markdown plus a little HTML): line breaks to spaces, entities for `<>&`, backslashes for markdown. */
export const teamsEscape = (s: string): string =>
  s
    .replace(/[\r\n]+/g, ' ')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\\*_~`[\]()]/g, (c) => `\\${c}`);

export const SLACK: Markup = { esc: slackEscape, bold: (s) => `*${s}*`, code: (s) => `\`${s}\`` };
export const DISCORD: Markup = { esc: discordEscape, bold: (s) => `**${s}**`, code: (s) => `\`${s}\`` };
export const TEAMS: Markup = { esc: teamsEscape, bold: (s) => `**${s}**`, code: (s) => `\`${s}\`` };
/** Plain text (logs, JSON answers): nothing to escape. */
export const PLAIN: Markup = { esc: (s) => s, bold: (s) => s, code: (s) => s };

/**
 * Cut escaped text to `max` characters without splitting an escape (`\*`, `&amp;`), ending
 * with "…" when cut.
 */
export function clip(escaped: string, max: number): string {
  if (escaped.length <= max) return escaped;
  let cut = escaped.slice(0, max - 1);
  const amp = cut.lastIndexOf('&');
  if (amp !== -1 && !cut.slice(amp).includes(';')) cut = cut.slice(0, amp);
  let slashes = 0;
  for (let i = cut.length - 1; i >= 0 && cut[i] === '\\'; i--) slashes++;
  if (slashes % 2 === 1) cut = cut.slice(0, -1);
  return `${cut}…`;
}
