/**
 * Seeded randomness for fuzz tests: a failure replays exactly. The seed is TEST_SEED when set
 * (to explore), else fixed; tests print it in their names so a red run says how to repeat it.
 */
export const TEST_SEED = Number(process.env.TEST_SEED ?? 20261127);

/** mulberry32: a small, well-distributed 32-bit generator; numbers in [0, 1). */
export function seeded(seed = TEST_SEED): { next: () => number; int: (n: number) => number; bytes: (n: number) => Buffer } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, bytes };
}
