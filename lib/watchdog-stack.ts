/** The deployable stack: one RunawayWatchdog (its outputs: WebhookUrl, TableName, AlarmTopicArn). */
import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { RunawayWatchdog, type RunawayWatchdogProps } from './runaway-watchdog.js';

export type WatchdogStackProps = StackProps & RunawayWatchdogProps;

export class WatchdogStack extends Stack {
  readonly watchdog: RunawayWatchdog;
  constructor(scope: Construct, id: string, props: WatchdogStackProps) {
    super(scope, id, props);
    this.watchdog = new RunawayWatchdog(this, 'Watchdog', props);
  }
}
