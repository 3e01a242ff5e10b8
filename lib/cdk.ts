/**
 * `runaway-watchdog/cdk`: the construct for your own CDK app, and the names it publishes
 * (metrics, table layout) for dashboards and alarms of your own.
 *
 *   import { RunawayWatchdog } from 'runaway-watchdog/cdk';
 *   new RunawayWatchdog(stack, 'Watchdog', { configFile: 'watchdog.yaml', alarmEmail: 'oncall@example.com' });
 */
export { RunawayWatchdog, type RunawayWatchdogProps, deployableConfig, secretNames, secretResources } from './runaway-watchdog.js';
export { WatchdogStack, type WatchdogStackProps } from './watchdog-stack.js';
export * from '../src/metrics.js';
export { INDEXES, TABLE, TABLE_KEYS, type IndexDefinition } from '../src/store/table.js';
export { ConfigError } from '../src/errors.js';
