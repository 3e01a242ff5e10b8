/**
 * The scheduled sweep (EventBridge, every minute by default). Thin: boot once, run one
 * sweep within the invocation's remaining time, publish EMF metrics and one summary log.
 * A sweep that fails as a whole still publishes SweepErrors (and no SweepCompleted, which
 * the "sweeper stopped" alarm watches), then fails the invocation for the failure destination.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { type LambdaContext, bootRuntime, powertoolsLog } from '../src/lambda/boot.js';
import { CONNECTION_DIMENSION, ENV, METRICS_NAMESPACE, SWEEPER_SERVICE, SweeperMetric as M } from '../src/metrics.js';
import type { Runtime } from '../src/runtime.js';
import { recordRunningConfig } from '../src/store/meta.js';
import type { ProbeReport } from '../src/app/probe.js';
import type { DiscoveryRecord } from '../src/store/probes.js';
import { type SweepSummary, summaryFields } from '../src/app/sweep.js';
import { loopMarginMs, sweepLoop } from '../src/app/loop.js';
import { mergeSummaries } from '../src/app/summary.js';

const logger = new Logger({ serviceName: 'runaway-watchdog-sweeper' });
const metrics = new Metrics({ namespace: process.env[ENV.metricsNamespace] ?? METRICS_NAMESPACE, serviceName: SWEEPER_SERVICE });
let runtime: Runtime | undefined;

export function publishSweepMetrics(m: Metrics, s: SweepSummary): void {
  const f = summaryFields(s);
  m.addMetric(M.SweepCompleted, MetricUnit.Count, 1);
  m.addMetric(M.Evaluated, MetricUnit.Count, s.evaluated);
  m.addMetric(M.Rescheduled, MetricUnit.Count, s.rescheduled);
  m.addMetric(M.Warned, MetricUnit.Count, s.warned);
  m.addMetric(M.Cancelled, MetricUnit.Count, s.cancelled);
  m.addMetric(M.CancelFailures, MetricUnit.Count, s.cancelFailed + s.unconfirmed);
  m.addMetric(M.HeldBackByCap, MetricUnit.Count, s.heldBackByCap);
  m.addMetric(M.HeartbeatCancelsHeld, MetricUnit.Count, s.heartbeatHeld);
  m.addMetric(M.CancelRetries, MetricUnit.Count, s.retried);
  m.addMetric(M.Deferred, MetricUnit.Count, s.deferredForTime);
  m.addMetric(M.SweepOverrun, MetricUnit.Count, s.deferredForTime > 0 ? 1 : 0);
  m.addMetric(M.NotificationFailures, MetricUnit.Count, s.noticesFailed);
  m.addMetric(M.Faults, MetricUnit.Count, s.faults);
  m.addMetric(M.Quarantined, MetricUnit.Count, s.quarantined);
  m.addMetric(M.SweepErrors, MetricUnit.Count, s.errors);
  m.addMetric(M.IndexRepairs, MetricUnit.Count, s.indexRepairs);
  m.addMetric(M.Discovered, MetricUnit.Count, s.discovered);
  m.addMetric(M.SweepDuration, MetricUnit.Milliseconds, s.durationMs);
  m.addMetric(M.DueLag, MetricUnit.Milliseconds, Number(f.dueLagMaxMs ?? 0));
  for (const ms of s.breachToCancelMs) m.addMetric(M.BreachToCancelMs, MetricUnit.Milliseconds, ms);
}

/** One EMF document per probed connection: ConnectionUnhealthy 0 or 1, dimension `connection`. */
export function publishProbeMetrics(m: Metrics, probes: readonly ProbeReport[]): void {
  for (const p of probes) {
    const single = m.singleMetric();
    single.addDimension(CONNECTION_DIMENSION, p.connection);
    single.addMetric(M.ConnectionUnhealthy, MetricUnit.Count, p.healthy ? 0 : 1);
  }
}

/** Two EMF documents per connection discovered on: Untracked (count) and DiscoveryIncomplete (0/1), dimension `connection`. */
export function publishDiscoveryMetrics(m: Metrics, discoveries: readonly DiscoveryRecord[]): void {
  for (const d of discoveries) {
    // A single metric is published on its first addMetric: one each, so both carry the dimension.
    for (const [name, value] of [
      [M.Untracked, d.untracked],
      [M.DiscoveryIncomplete, d.complete ? 0 : 1],
    ] as const) {
      const single = m.singleMetric();
      single.addDimension(CONNECTION_DIMENSION, d.connection);
      single.addMetric(name, MetricUnit.Count, value);
    }
  }
}

/** One pass's metrics (EMF). */
function publishPass(s: SweepSummary): void {
  publishSweepMetrics(metrics, s);
  publishProbeMetrics(metrics, s.probes);
  publishDiscoveryMetrics(metrics, s.discoveries);
}

export const handler = async (_event: unknown, context: LambdaContext): Promise<Record<string, unknown>> => {
  try {
    let recording: Promise<void> | undefined;
    if (!runtime) {
      runtime = bootRuntime(powertoolsLog(logger));
      // Cold start: record which config runs here (`watchdog doctor` compares it with your
      // file), alongside the sweep rather than before it.
      const { config, table } = runtime;
      recording = recordRunningConfig(table.client, table.name, {
        sha256: config.sha256,
        by: `sweeper ${process.env.AWS_LAMBDA_LOG_STREAM_NAME ?? process.pid}`,
        at: Date.now(),
      }).catch((err: Error) => logger.warn('could not record the running config', { error: err.message }));
    }
    const every = Number(process.env[ENV.sweepEveryMs]);
    const scheduled = Number.isFinite(every) && every > 0;
    const remainingMs = () => context.getRemainingTimeInMillis();
    const rt = runtime;
    let summary: SweepSummary;
    if (!scheduled || rt.config.settings.sweepMode === 'scheduled') {
      summary = await rt.sweeper.run({ remainingMs, ...(scheduled ? { scheduleMs: every } : {}) });
      publishPass(summary);
    } else {
      // Continuous: pass after pass until shortly before the next scheduled invocation.
      const passes: SweepSummary[] = [];
      let published = Date.now();
      await sweepLoop({
        sweeper: rt.sweeper,
        tickMs: rt.config.settings.tickMs,
        endAt: Date.now() + every - loopMarginMs(every),
        remainingMs,
        onPass: (s) => {
          passes.push(s);
          publishPass(s);
          // A pass that did something gets its own line; the invocation's summary comes at the end.
          if (s.actions.length > 0 || s.errors > 0) logger.info('sweep pass', summaryFields(s));
          // Published at least every 10 s: a loop killed mid-invocation has still reported.
          if (Date.now() - published >= 10_000) {
            metrics.publishStoredMetrics();
            published = Date.now();
          }
        },
      });
      summary = mergeSummaries(passes);
    }
    await recording;
    const fields = summaryFields(summary);
    logger.info('sweep summary', fields);
    return fields;
  } catch (err) {
    metrics.addMetric(M.SweepErrors, MetricUnit.Count, 1);
    logger.error('sweep failed', { error: (err as Error)?.message ?? String(err) });
    throw err;
  } finally {
    metrics.publishStoredMetrics();
  }
};
