/**
 * The `/watchdog` application command as Discord registers it (PUT
 * /applications/{application id}/commands): the subcommands and options the interaction
 * route reads (`id`, `duration`, `reason`, `filter`). `watchdog discord command` prints it.
 */
const STRING = 3 as const;
const SUB_COMMAND = 1 as const;
const id = { type: STRING, name: 'id', description: 'wd_… id or <connection>/<externalId>', required: true, max_length: 1100 };
const reason = { type: STRING, name: 'reason', description: 'why (audited)', required: false, max_length: 500 };
const duration = (required: boolean, example: string) => ({
  type: STRING,
  name: 'duration',
  description: `how long, e.g. ${example}`,
  required,
  max_length: 16,
});

export const DISCORD_COMMAND = {
  name: 'watchdog',
  description: 'Runaway Watchdog: cancel, extend, keep, snooze, status, list, coverage',
  type: 1 as const,
  options: [
    { type: SUB_COMMAND, name: 'cancel', description: 'cancel an execution now', options: [id, reason] },
    { type: SUB_COMMAND, name: 'extend', description: 'give it more time, up to the policy maximum', options: [id, duration(true, '30m'), reason] },
    { type: SUB_COMMAND, name: 'keep', description: 'answer an approval request: keep it running', options: [id, duration(false, '1h')] },
    { type: SUB_COMMAND, name: 'snooze', description: 'silence warnings (limits still apply)', options: [id, duration(false, '1h')] },
    { type: SUB_COMMAND, name: 'status', description: 'state, limits and recent actions', options: [id] },
    {
      type: SUB_COMMAND,
      name: 'list',
      description: 'executions being watched',
      options: [{ type: STRING, name: 'filter', description: 'a connection or policy name', required: false, max_length: 64 }],
    },
    { type: SUB_COMMAND, name: 'coverage', description: 'running on each platform vs tracked' },
    { type: SUB_COMMAND, name: 'help', description: 'the commands' },
  ],
};
