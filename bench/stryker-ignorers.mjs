/**
 * Mutants StrykerJS does not make, each with its reason (stryker.config.json `ignorers`):
 *  - `log-calls`: the arguments of a call to a logger (`log.info(…)`, `this.log.error(…)`,
 *    `this.log[level](…)`): their text and fields are what operators read, not what the
 *    watchdog does; no test of behaviour can tell a changed log line from the original.
 */
import { PluginKind, declareValuePlugin } from '@stryker-mutator/api/plugin';

const LEVELS = new Set(['debug', 'info', 'warn', 'error']);

/** `log.<level>(…)`, `this.log.<level>(…)`, `this.log[expr](…)`, `o.log.<level>(…)`, `c.log.<level>(…)`. */
function isLogCall(node) {
  if (node.type !== 'CallExpression') return false;
  const callee = node.callee;
  if (callee.type !== 'MemberExpression') return false;
  const obj = callee.object;
  const named = (n) =>
    (n.type === 'Identifier' && n.name === 'log') ||
    (n.type === 'MemberExpression' && !n.computed && n.property.type === 'Identifier' && n.property.name === 'log');
  if (!named(obj)) return false;
  return callee.computed || (callee.property.type === 'Identifier' && LEVELS.has(callee.property.name));
}

export const strykerPlugins = [
  declareValuePlugin(PluginKind.Ignore, 'log-calls', {
    shouldIgnore(path) {
      return isLogCall(path.node) ? 'a log line: its text is for operators, not behaviour a test can observe' : undefined;
    },
  }),
];
