// Which idle gaps to probe next, when the answer stops at what was observed (censored data:
// beyond the largest survival, with no expiry seen, the risk is unknown). Pure.

/** Gaps a person would probe, ascending (seconds): round values from 1 s to a day. */
const ROUND_GAPS_S = [
  1, 2, 3, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200, 10_800,
  14_400, 21_600, 43_200, 86_400,
];

/** The smallest round gap at or above `ms` (the largest one beyond a day). */
export function roundGapUp(ms: number): number {
  const s = ms / 1000;
  return (ROUND_GAPS_S.find((g) => g >= s - 1e-9) ?? ROUND_GAPS_S[ROUND_GAPS_S.length - 1]!) * 1000;
}

/**
 * Two gaps to probe next (ms, ascending, above `largestSurvivalMs`): the median and the
 * largest of the reuses whose risk is unknown, rounded up to round values; without such
 * reuses, two and five times the largest survival. Empty when there is nothing to extend.
 */
export function nextGapsToProbe(
  unknownGapsMs: readonly number[],
  largestSurvivalMs: number | null,
): number[] {
  const floor = largestSurvivalMs ?? 0;
  const wanted =
    unknownGapsMs.length > 0
      ? [median(unknownGapsMs), Math.max(...unknownGapsMs)]
      : largestSurvivalMs !== null
        ? [2 * largestSurvivalMs, 5 * largestSurvivalMs]
        : [];
  const out = [...new Set(wanted.map(roundGapUp))].filter((g) => g > floor).sort((a, b) => a - b);
  if (out.length === 1) {
    const next = ROUND_GAPS_S.find((g) => g * 1000 > out[0]! * 1.5);
    if (next !== undefined) out.push(next * 1000);
  }
  return out;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** `15 min`, `30 s`, `1 h`, `1.5 min`: how a gap reads in a sentence. */
export function formatGap(ms: number): string {
  const s = ms / 1000;
  if (s >= 3600 && s % 1800 === 0) return `${s / 3600} h`;
  if (s >= 60 && s % 30 === 0) return `${s / 60} min`;
  return `${Math.round(ms) / 1000} s`;
}

/** `probe 15 min and 30 min idle` */
export function probeAdvice(gapsMs: readonly number[]): string {
  if (gapsMs.length === 0) return '';
  const shown = gapsMs.map(formatGap);
  return `probe ${shown.length === 1 ? shown[0] : `${shown.slice(0, -1).join(', ')} and ${shown[shown.length - 1]}`} idle`;
}
