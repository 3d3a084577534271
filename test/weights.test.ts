// Percent (XR) <-> fraction (ACK additionalVersionWeights) conversions.
import { describe, expect, it } from 'vitest';
import { fractionToPercent, percentToBasisPoints, percentToFraction } from '../function/core/weights.js';

describe('percentToFraction', () => {
  it.each([
    [0, 0],
    [10, 0.1],
    [7, 0.07],
    [33.33, 0.3333],
    [0.01, 0.0001],
    [99.99, 0.9999],
    [12.5, 0.125],
    [100, 1],
  ])('%s%% -> %s exactly', (percent, fraction) => {
    expect(percentToFraction(percent)).toBe(fraction);
    expect(String(percentToFraction(percent))).toBe(String(fraction));
  });

  it('has no float noise for any percentage with two decimals (all 10001 hundredths)', () => {
    const noisy: string[] = [];
    for (let k = 0; k <= 10000; k++) {
      const percent = k / 100;
      const fraction = percentToFraction(percent);
      // The decimal k/10000 written out, e.g. 7 -> "0.0007", 10000 -> "1".
      const want = k === 10000 ? '1' : k === 0 ? '0' : `0.${String(k).padStart(4, '0')}`.replace(/0+$/, '');
      if (String(fraction) !== want) noisy.push(`${percent}% -> ${String(fraction)} (want ${want})`);
      // And the percentage as people write it survives the trip through ACK.
      if (fractionToPercent(fraction) !== percent) noisy.push(`${percent}% round-trips to ${fractionToPercent(fraction)}`);
      if (String(fractionToPercent(fraction)) !== String(percent)) noisy.push(`${percent}% prints as ${String(fractionToPercent(fraction))}`);
    }
    expect(noisy).toEqual([]);
  });

  it('percentages written with float noise still land on the hundredth', () => {
    // 0.1 + 0.2 = 0.30000000000000004 and 33.33 * 1 style inputs.
    expect(percentToFraction(0.1 + 0.2)).toBe(0.003);
    expect(percentToBasisPoints(33.33)).toBe(3333);
    expect(percentToBasisPoints(0.07 * 100)).toBe(700);
  });
});

describe('fractionToPercent', () => {
  it.each([
    [0.1, 10],
    [0.07, 7],
    [0.3333, 33.33],
    [0.0001, 0.01],
    [0.9999, 99.99],
    [1, 100],
  ])('%s -> %s%%', (fraction, percent) => {
    expect(fractionToPercent(fraction)).toBe(percent);
  });

  it('round-trips fraction -> percent -> fraction for every four-decimal fraction', () => {
    for (let k = 0; k <= 10000; k++) {
      const fraction = k / 10000;
      expect(percentToFraction(fractionToPercent(fraction))).toBe(fraction);
    }
  });
});
