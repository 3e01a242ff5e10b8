/**
 * `npm start` end to end: the real entry point in a child process, the demo's expected
 * outcomes, the CLI against the running instance, a clean stop, and the one-line failures.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const BIN = path.resolve('bin/watchdog.mjs');
const run = promisify(execFile);

function start(args: string[]): {
  child: ChildProcess;
  output: () => string;
  waitFor: (re: RegExp, ms: number) => Promise<RegExpExecArray>;
  exit: Promise<number | null>;
} {
  const child = spawn(process.execPath, [BIN, 'start', ...args], { env: { ...process.env, WATCHDOG_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (c: Buffer) => {
    text += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    text += c.toString();
  });
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const waitFor = (re: RegExp, ms: number) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const t0 = Date.now();
      const check = () => {
        const m = re.exec(text);
        if (m) return resolve(m);
        if (Date.now() - t0 > ms || child.exitCode !== null) return reject(new Error(`timed out waiting for ${re}; output:\n${text.slice(-3000)}`));
        setTimeout(check, 200);
      };
      check();
    });
  return { child, output: () => text, waitFor, exit };
}

describe('npm start', () => {
  it('runs the demo: every platform sees its cancel, the extended run is not cancelled, the finished one is not reported cancelled; the CLI works alongside; Ctrl-C stops cleanly', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'wd-start-'));
    const app = start(['--data-dir', dataDir, '--port', '0', '--interval', '1s']);
    try {
      const manual = (await app.waitFor(/a long run, (wd_[a-z0-9]{12}), waits for you/, 30_000))[1]!;
      // The outcome, then the try-it commands again (written together; a pipe may still deliver them in two reads).
      await app.waitFor(/demo: all scenarios reached their expected outcome[\s\S]*Ctrl-C stops; the store persists/, 100_000);
      const out = app.output();
      for (const platform of ['catalyzed-prod', 'kodexa-acme', 'ionworks-prod', 'superglue-prod', 'meibel-prod']) {
        expect(out).toMatch(new RegExp(`${platform}\\s+simulator received cancel for demo-`));
      }
      expect(out).toMatch(/superglue-prod\/demo-extend: (running|warned) — warned, then a person presses/);
      expect(out).not.toMatch(/superglue-prod\s+simulator received cancel for demo-extend/);
      expect(out).toMatch(/catalyzed-prod\s+demo-done\s+already finished when the cancel arrived/);
      expect(out).not.toMatch(/demo-done\s+CANCELLED/);
      expect(out).toMatch(/meibel-prod\s+demo-busy\s+provider busy, cancel retried later \(rate limited/);
      expect(out).toMatch(/slack #ml-oncall \(thread\): Cancelled/);
      // Approval mode: the request in Slack, a person's "Keep running 1h", no cancel.
      expect(out).toMatch(/slack #ml-oncall( \(thread\))?: Approval needed: catalyzed-prod\/demo-approve/);
      expect(out).toMatch(/Kept wd_[a-z0-9]{12} running for 1h/);
      expect(out).not.toMatch(/simulator received cancel for demo-approve/);
      // A platform's outage: one incident opened by the probe, resolved on recovery.
      expect(out).toMatch(/pagerduty: incident OPENED watchdog\/connection\/kodexa-acme[\s\S]*pagerduty: incident RESOLVED watchdog\/connection\/kodexa-acme/);

      // Another terminal: the CLI reaches the running instance (and its simulators).
      const env = { ...process.env, WATCHDOG_CONFIG: '' };
      const list = await run(process.execPath, [BIN, '--data-dir', dataDir, 'list'], { env });
      expect(list.stdout).toContain(manual);
      // Stable names on a fresh store, as the README shows them.
      const stall = await run(process.execPath, [BIN, '--data-dir', dataDir, 'show', 'kodexa-acme/demo-stall'], { env });
      expect(stall.stdout).toMatch(/^wd_[a-z0-9]{12}\s+cancelled \(stall\)/);
      // The try-it commands come again after the outcome, last on screen, with a signed cancel.
      const after = out.slice(out.indexOf('demo: all scenarios reached their expected outcome'));
      expect(after).toContain('Try it from another terminal');
      expect(after).toMatch(/curl .*slack\/commands/);
      const data = /--data '([^']+)'/.exec(after)?.[1] ?? '';
      expect(new URLSearchParams(data).get('text')).toBe(`cancel ${manual} seen in the demo`);
      // `watchdog sign` signs for the port the running instance serves (here: a free one).
      const webhookUrl = /webhook (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
      const signed = await run(process.execPath, [BIN, '--data-dir', dataDir, 'sign', 'slack', 'status'], { env });
      expect(signed.stdout).toContain(`curl -s '${webhookUrl}/slack/commands'`);
      const cancel = await run(process.execPath, [BIN, '--data-dir', dataDir, 'cancel', manual, '--reason', 'from the test'], { env });
      expect(cancel.stdout).toMatch(new RegExp(`${manual} cancelled`));
    } finally {
      app.child.kill('SIGINT');
    }
    expect(await app.exit).toBe(0);
    expect(app.output()).toContain('watchdog: stopping');

    // A restart resumes from the persisted store.
    const again = start(['--data-dir', dataDir, '--port', '0', '--interval', '1s', '--no-demo']);
    try {
      await again.waitFor(/demo-long\s+default\s+cancelled/, 30_000);
    } finally {
      // Ctrl-C twice, the second while the first is being handled: answered until the store is
      // closed (a kill after that is harmless), never a kill mid-close.
      again.child.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 5));
      again.child.kill('SIGINT');
    }
    expect(await again.exit, again.output()).toBe(0);
    expect(again.output()).toContain('watchdog: stopping');
    // The store was closed cleanly: the next start does not rebuild its indexes.
    const third = start(['--data-dir', dataDir, '--port', '0', '--interval', '1s', '--no-demo']);
    try {
      await third.waitFor(/sweep every 1s/, 30_000);
      expect(third.output(), `the restart before it said:\n${again.output()}`).not.toMatch(/not closed cleanly/);
    } finally {
      third.child.kill('SIGINT');
    }
    expect(await third.exit).toBe(0);
  }, 180_000);

  it('a port in use, a broken config, a corrupt data folder: one clear line and a non-zero exit', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const busy = start(['--data-dir', mkdtempSync(path.join(os.tmpdir(), 'wd-port-')), '--port', String(port), '--no-demo']);
      expect(await busy.exit).not.toBe(0);
      expect(busy.output()).toMatch(new RegExp(`port ${port} is already in use`));
    } finally {
      blocker.close();
    }
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wd-badcfg-'));
    writeFileSync(path.join(dir, 'bad.yaml'), 'connections: {}\npolicies: [{ name: default, maxRuntime: soon }]\n');
    const bad = start(['--config', path.join(dir, 'bad.yaml'), '--data-dir', dir]);
    expect(await bad.exit).not.toBe(0);
    expect(bad.output()).toMatch(/policies\[0\]\.maxRuntime/);

    const corrupt = mkdtempSync(path.join(os.tmpdir(), 'wd-corrupt-'));
    writeFileSync(path.join(corrupt, 'CURRENT'), 'garbage\n');
    const broken = start(['--data-dir', corrupt, '--port', '0', '--no-demo']);
    expect(await broken.exit).not.toBe(0);
    expect(
      broken
        .output()
        .trim()
        .split('\n')
        .filter((l) => !/nodedir|npm warn/.test(l)).length,
    ).toBeLessThanOrEqual(2);
    expect(broken.output()).toMatch(/embedded store/);
  }, 60_000);
});
