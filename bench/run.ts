/**
 * `npm run bench`: one JSON object per line, {"name", "value", "unit", "target"}.
 * A benchmark that cannot run prints its line with "value": null and a "why".
 * Select some with: npm run bench -- policy_eval due_read
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
import { benchPolicyEval } from './policy-eval.js';
import { benchDueRead } from './due-read.js';
import { benchSweep } from './sweep.js';
import { benchWebhook } from './webhook.js';
import { benchBundle } from './bundle.js';
import { benchReindex } from './reindex.js';
import { benchCost } from './cost.js';
import { benchHeartbeatLoad } from './heartbeat-load.js';
import { benchDiscovery } from './discovery.js';
import { benchLambdaHeartbeat } from './lambda-heartbeat.js';
import { benchAwsLatency } from './aws-latency.js';

export interface Line {
  name: string;
  value: number | null;
  unit: string;
  target: string;
  why?: string;
  [k: string]: unknown;
}

const benches: Record<string, () => Promise<Line[]>> = {
  policy_eval: benchPolicyEval,
  due_read: benchDueRead,
  sweep: benchSweep,
  webhook: benchWebhook,
  bundle: benchBundle,
  reindex: benchReindex,
  cost: benchCost,
  heartbeat_load: benchHeartbeatLoad,
  discovery: benchDiscovery,
  lambda_heartbeat: benchLambdaHeartbeat,
  aws_latency: benchAwsLatency,
};

const wanted = process.argv.slice(2);
for (const [name, fn] of Object.entries(benches)) {
  if (wanted.length && !wanted.some((w) => name.includes(w))) continue;
  let lines: Line[];
  try {
    lines = await fn();
  } catch (err) {
    lines = [{ name, value: null, unit: '', target: '', why: (err as Error).message }];
  }
  for (const l of lines) console.log(JSON.stringify(l));
}
