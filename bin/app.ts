/**
 * `npx cdk synth` / `npx cdk deploy`. The config file comes from `-c config=<file>`,
 * $WATCHDOG_CONFIG, or the bundled example. A bad config fails synth with the same
 * `path: message` lines as `watchdog config validate`.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { ConfigError } from '../src/errors.js';
import { WatchdogStack } from '../lib/watchdog-stack.js';

const app = new App();
const configFile = (app.node.tryGetContext('config') as string | undefined) ?? process.env.WATCHDOG_CONFIG ?? 'examples/watchdog.yaml';
const alarmEmail = app.node.tryGetContext('alarmEmail') as string | undefined;
try {
  new WatchdogStack(app, (app.node.tryGetContext('stackName') as string | undefined) ?? 'RunawayWatchdog', {
    configFile,
    ...(alarmEmail ? { alarmEmail } : {}),
    description: 'Runaway Watchdog: stops runaway executions on AI and data platforms',
  });
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`watchdog config ${configFile} is invalid:\n${err.problems.map((p) => `  ${p}`).join('\n')}`);
    process.exit(1);
  }
  throw err;
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
