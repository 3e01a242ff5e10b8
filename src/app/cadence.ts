/**
 * Work done once per interval across concurrent and successive sweeps (probes, the safety net,
 * discovery): a local skip first (a warm sweeper that knows it is not due saves the write),
 * then the ledger's conditional claim, which one sweep wins.
 */
import type { ProbeLedger } from '../store/probes.js';

export class Cadence {
  private readonly nextAt = new Map<string, number>();

  constructor(readonly ledger: ProbeLedger) {}

  /** The previous verdict when this sweep won the claim for `key`; false when it is not due (here, or in the ledger). */
  async claim(key: string, now: number, everyMs: number): Promise<{ healthy?: boolean } | false> {
    if ((this.nextAt.get(key) ?? 0) > now) return false;
    this.nextAt.set(key, now + everyMs);
    return this.ledger.claim(key, now, everyMs);
  }
}
