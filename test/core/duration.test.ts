/** The duration grammar and its compact form, case by case (boundaries included). */
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/core/duration.js';

describe('parseDuration', () => {
  it.each([
    ['1ms', 1],
    ['999ms', 999],
    ['1s', 1_000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['1.5s', 1_500],
    ['0.5m', 30_000],
    ['1h30m', 5_400_000],
    ['1d2h3m4s5ms', 93_784_005],
    ['2H', 7_200_000],
    ['  45m  ', 2_700_000],
    ['0.0005s', 1],
  ])('%j → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });
  it('a positive total under half a millisecond rounds to 0 (it is still a duration)', () => {
    expect(parseDuration('0.0004s')).toBe(0);
  });
  it.each(['', '   ', 's', '1', '1x', '1 m', '1m 2s', '-1m', '+1m', '1m-', 'm1', '1..5s', '.5s', '0s', '0m0s', '1m?', 'ms1'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
  it('is not confused by a previous call (the sticky pattern starts over)', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('bad')).toBeUndefined();
    expect(parseDuration('2m')).toBe(120_000);
  });
  it('refuses an overflowing total', () => {
    expect(parseDuration(`${'9'.repeat(400)}d`)).toBeUndefined();
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0ms'],
    [1, '1ms'],
    [999, '999ms'],
    [999.4, '999ms'],
    [999.6, '1s'],
    [1_000, '1s'],
    [1_999, '1s'],
    [59_000, '59s'],
    [60_000, '1m'],
    [61_000, '1m1s'],
    [3_600_000, '1h'],
    [3_661_000, '1h1m'],
    [5_400_000, '1h30m'],
    [86_400_000, '1d'],
    [90_061_000, '1d1h'],
    [86_401_000, '1d1s'],
    [-90_000, '-1m30s'],
    [-500, '-500ms'],
    [Infinity, '∞'],
    [-Infinity, '∞'],
    [Number.NaN, '∞'],
  ])('%d → %j', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
  it('round-trips what it prints (two most significant units)', () => {
    for (const ms of [1_000, 61_000, 3_660_000, 90_000_000]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
