/**
 * A watchdog process to kill: opens the embedded store in WATCHDOG_CRASH_DIR and sweeps in a
 * loop (claims, provider cancels, outcomes) until SIGKILL lands. Its clock runs ahead by
 * WATCHDOG_CRASH_OFFSET_MS, so each run sees the previous run's leases expired.
 */
import { compileConfig } from '../../src/config/load.js';
import { openEmbedded } from '../../src/local/target.js';
import { buildRuntime } from '../../src/runtime.js';
import { dynamoClient } from '../../src/store/client.js';

const env = JSON.parse(process.env.WATCHDOG_CRASH_ENV ?? '{}') as { dir: string; offsetMs: number; config: unknown; secrets: Record<string, string> };
const engine = await openEmbedded(env.dir);
const client = dynamoClient({ endpoint: engine.endpoint });
const config = compileConfig(env.config, env.dir);
const secrets = { get: async (name: string) => env.secrets[name] ?? Promise.reject(new Error(`no secret ${name}`)) };
const rt = buildRuntime(config, {
  client,
  secrets,
  now: () => Date.now() + env.offsetMs,
  holder: `crash-${process.pid}`,
  http: { attempts: 1, timeoutMs: 2_000 },
});
process.stdout.write('ready\n');
for (;;) await rt.sweeper.run();
