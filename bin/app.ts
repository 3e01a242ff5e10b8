/**
 * `npx cdk synth -c config=<file>` / `npx cdk deploy -c config=<file>`. The config is always
 * named explicitly (`-c config=…` or $WATCHDOG_CONFIG): nothing deploys a default by
 * accident, and an upgrade names the same file as the first deploy. A missing file or a bad
 * config is reported in `path: message` lines, the same as `watchdog config validate`.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../src/errors.js';
import { WatchdogStack } from '../lib/watchdog-stack.js';

const app = new App();
const configFile = (app.node.tryGetContext('config') as string | undefined) ?? process.env.WATCHDOG_CONFIG;
if (!configFile) {
  console.error(
    'watchdog: no config: pass -c config=<your watchdog.yaml> on every cdk command, bootstrap included (or set WATCHDOG_CONFIG); start from the deploy template examples/watchdog.yaml',
  );
  process.exit(1);
}
const alarmEmail = app.node.tryGetContext('alarmEmail') as string | undefined;
try {
  new WatchdogStack(app, (app.node.tryGetContext('stackName') as string | undefined) ?? 'RunawayWatchdog', {
    configFile,
    ...(alarmEmail ? { alarmEmail } : {}),
    description: 'Runaway Watchdog: stops runaway executions on AI and data platforms',
  });
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`watchdog: config ${configFile}: ${err.problems.length === 1 ? err.problems[0] : `\n${err.problems.map((p) => `  ${p}`).join('\n')}`}`);
    process.exit(1);
  }
  throw err;
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
