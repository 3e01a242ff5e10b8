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
  /** Our own text inside a code span (`cancel <id> [reason]`), made literal for the tool. */
  literal(s: string): string;
  /** Between lines: Teams' markdown joins single line breaks, so it needs a paragraph break. */
  nl: string;
  /** How commands are written in this tool: text (`cancel <id>`) or slash-command options (`/watchdog cancel id:<id>`). */
  commands: 'text' | 'options';
  /** The tool whose actor ids (`slack:U…`) this markup can show as mentions. */
  tool: 'slack' | 'discord' | 'teams' | 'plain';
  /** A person or a channel of this tool as a mention, when the tool has them and the id is one of its own. */
  mention(kind: 'user' | 'channel', id: string): string | undefined;
  /** The longest answer this tool shows whole (characters, after escaping). */
  maxChars: number;
}

/**
 * An actor as this tool shows people: `slack:U012AB` is a mention in Slack, `discord:8035…` in
 * Discord (pinging nobody: allowed_mentions), a display name when the request carried one
 * (Teams); anything else (`policy:nightly`, another tool's id) as text. The audit keeps the id.
 */
export function actorText(m: Markup, actorId: string, displayName?: string): string {
  const i = actorId.indexOf(':');
  if (i > 0 && actorId.slice(0, i) === m.tool) {
    if (displayName) return m.esc(displayName);
    return m.mention('user', actorId.slice(i + 1)) ?? m.esc(actorId);
  }
  return m.esc(actorId);
}

const slackMention = (kind: 'user' | 'channel', id: string): string | undefined =>
  /^[A-Z0-9]{2,32}$/.test(id) ? `<${kind === 'user' ? '@' : '#'}${id}>` : undefined;
const discordMention = (kind: 'user' | 'channel', id: string): string | undefined =>
  /^\d{5,25}$/.test(id) ? `<${kind === 'user' ? '@' : '#'}${id}>` : undefined;

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

const entities = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

// Slack parses `<…>` as a link or mention even inside a code span: entities there too. Discord
// renders a code span as is. Teams (markdown and a little HTML): entities.
export const SLACK: Markup = {
  esc: slackEscape,
  bold: (s) => `*${s}*`,
  code: (s) => `\`${s}\``,
  literal: entities,
  nl: '\n',
  commands: 'text',
  tool: 'slack',
  mention: slackMention,
  // A message's text may hold 40,000 characters (past it Slack truncates); a readable answer is far less.
  maxChars: 12_000,
};
export const DISCORD: Markup = {
  esc: discordEscape,
  bold: (s) => `**${s}**`,
  code: (s) => `\`${s}\``,
  literal: (s) => s,
  nl: '\n',
  commands: 'options',
  tool: 'discord',
  mention: discordMention,
  maxChars: 2_000,
};
export const TEAMS: Markup = {
  esc: teamsEscape,
  bold: (s) => `**${s}**`,
  code: (s) => `\`${s}\``,
  literal: entities,
  nl: '\n\n',
  commands: 'text',
  tool: 'teams',
  mention: () => undefined,
  // A Teams message may be about 100 KB (80 KB advised): in characters of up to 4 bytes, with room to spare.
  maxChars: 18_000,
};
/** Plain text (logs, JSON answers): nothing to escape. */
export const PLAIN: Markup = {
  esc: (s) => s,
  bold: (s) => s,
  code: (s) => s,
  literal: (s) => s,
  nl: '\n',
  commands: 'text',
  tool: 'plain',
  mention: () => undefined,
  maxChars: Infinity,
};

/** The first `n` UTF-16 units of `s`, one fewer when the cut would split a surrogate pair (an emoji). */
export function cutAt(s: string, n: number): string {
  const code = s.charCodeAt(n - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? n - 1 : n);
}

/**
 * Cut escaped text to `max` characters without splitting an escape (`\*`, `&amp;`), ending
 * with "…" when cut.
 */
export function clip(escaped: string, max: number): string {
  if (escaped.length <= max) return escaped;
  let cut = cutAt(escaped, max - 1);
  const amp = cut.lastIndexOf('&');
  if (amp !== -1 && !cut.slice(amp).includes(';')) cut = cut.slice(0, amp);
  let slashes = 0;
  for (let i = cut.length - 1; i >= 0 && cut[i] === '\\'; i--) slashes++;
  if (slashes % 2 === 1) cut = cut.slice(0, -1);
  return `${cut}…`;
}
