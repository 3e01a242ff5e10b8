/**
 * The scheduled sweep (EventBridge, every minute by default). Thin: boot once, run one
 * sweep within the invocation's remaining time, publish EMF metrics and one summary log.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { type LambdaContext, bootRuntime, powertoolsLog } from '../src/lambda/boot.js';
import type { Runtime } from '../src/runtime.js';
import { type SweepSummary, summaryFields } from '../src/sweep/sweep.js';

const logger = new Logger({ serviceName: 'runaway-watchdog-sweeper' });
const metrics = new Metrics({ namespace: process.env.WATCHDOG_METRICS_NAMESPACE ?? 'RunawayWatchdog', serviceName: 'sweeper' });
let runtime: Runtime | undefined;

export function publishSweepMetrics(m: Metrics, s: SweepSummary): void {
  const f = summaryFields(s);
  m.addMetric('Evaluated', MetricUnit.Count, s.evaluated);
  m.addMetric('Warned', MetricUnit.Count, s.warned);
  m.addMetric('Cancelled', MetricUnit.Count, s.cancelled);
  m.addMetric('CancelFailures', MetricUnit.Count, s.cancelFailed + s.unconfirmed);
  m.addMetric('HeldBackByCap', MetricUnit.Count, s.heldBackByCap);
  m.addMetric('NotificationFailures', MetricUnit.Count, s.noticesFailed);
  m.addMetric('SweepDuration', MetricUnit.Milliseconds, s.durationMs);
  m.addMetric('DueLag', MetricUnit.Milliseconds, Number(f.dueLagMaxMs ?? 0));
}

export const handler = async (_event: unknown, context: LambdaContext): Promise<Record<string, unknown>> => {
  runtime ??= bootRuntime(powertoolsLog(logger));
  const summary = await runtime.sweeper.run({ remainingMs: () => context.getRemainingTimeInMillis() });
  publishSweepMetrics(metrics, summary);
  metrics.publishStoredMetrics();
  const fields = summaryFields(summary);
  logger.info('sweep summary', fields);
  return fields;
};
