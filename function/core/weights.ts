// Weights are percentages (0-100, two decimals) in the XR and fractions
// (0.0-1.0) in ACK's additionalVersionWeights. Converting through integer
// hundredths of a percent keeps the fraction free of float noise:
// 7 -> 0.07 (not 0.07000000000000001), 33.33 -> 0.3333.

/** Hundredths of a percent, 0..10000. */
export function percentToBasisPoints(percent: number): number {
  return Math.round(percent * 100);
}

/** The exact fraction for a percentage with at most two decimals. */
export function percentToFraction(percent: number): number {
  // Dividing two exact integers yields the double nearest to the decimal.
  return percentToBasisPoints(percent) / 10000;
}

/** The percentage for a fraction read back from an Alias (at most two decimals). */
export function fractionToPercent(fraction: number): number {
  return Math.round(fraction * 10000) / 100;
}
