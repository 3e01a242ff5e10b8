/** `watchdog simulate`: run a provider simulator locally (to try `provider cancel` or a config against it). */
import { InputError } from '../../errors.js';
import { startSimulator } from '../../simulators/server.js';
import type { Command } from 'commander';
import type { Cli } from '../context.js';
import { parsePort, collect } from '../parse.js';

export function register(program: Command, cli: Cli): void {
  const { io } = cli;
  program
    .command('simulate')
    .description('run a provider simulator locally (to try `provider cancel` or a config against it)')
    .argument('<platform>', 'catalyzed | kodexa | ionworks | superglue | meibel')
    .option('--port <n>', 'port (0 = any free port)', '0')
    .option('--api-key <key>', 'the key it accepts (default <platform>-sim-key)')
    .option('--run <id>', 'a running execution to start with (repeatable)', collect)
    .action(async (platform: string, o: { port: string; apiKey?: string; run?: string[] }) => {
      const port = parsePort(o.port);
      let sim;
      try {
        sim = await startSimulator(platform, { port, ...(o.apiKey ? { apiKey: o.apiKey } : {}) });
      } catch (err) {
        throw new InputError((err as Error).message);
      }
      for (const id of o.run ?? []) sim.add({ id });
      sim.onCancel = (id) => io.out(`cancel received for ${id}`);
      io.out(`${platform} simulator on ${sim.url} (API key ${sim.apiKey})${o.run?.length ? `; running: ${o.run.join(', ')}` : ''}`);
      io.out(`try: KEY=${sim.apiKey} npx watchdog provider cancel ${platform} ${o.run?.[0] ?? '<id>'} --base-url ${sim.url} --api-key-env KEY`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await sim.close();
    });
}
