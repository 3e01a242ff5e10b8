/** The deployable stack: one RunawayWatchdog and its outputs. */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { RunawayWatchdog, type RunawayWatchdogProps } from './runaway-watchdog.js';

export type WatchdogStackProps = StackProps & RunawayWatchdogProps;

export class WatchdogStack extends Stack {
  readonly watchdog: RunawayWatchdog;
  constructor(scope: Construct, id: string, props: WatchdogStackProps) {
    super(scope, id, props);
    this.watchdog = new RunawayWatchdog(this, 'Watchdog', props);
    new CfnOutput(this, 'WebhookUrl', {
      value: this.watchdog.webhookUrl.url,
      description: 'Slack slash command: <url>slack/commands · interactivity: <url>slack/interactions',
    });
    new CfnOutput(this, 'TableName', { value: this.watchdog.table.tableName, description: 'for `watchdog --table <name> --region <region>`' });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.watchdog.alarmTopic.topicArn });
  }
}
