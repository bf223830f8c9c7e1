// Idle gaps as people type them: "5, 30s, 1m30s, 6h" (the config's duration syntax; a bare
// number is seconds). One parser for the dashboard's form and the estimate route.
import { parseDuration } from '../config/schema.js';

export type ParsedIntervals = { ok: true; seconds: number[] } | { ok: false; error: string };

export function parseIntervalsText(text: string): ParsedIntervals {
  const parts = text.split(/[\s,]+/).filter(Boolean);
  const seconds: number[] = [];
  for (const part of parts) {
    const ms = parseDuration(part);
    if (ms === null || ms <= 0) {
      return {
        ok: false,
        error: `"${part}" is not an idle gap; write seconds or durations such as 5, 30s, 10m, 6h`,
      };
    }
    seconds.push(ms / 1000);
  }
  return { ok: true, seconds };
}

/** 5 → "5s", 90 → "1m30s", 21600 → "6h": how the form shows the default gaps. */
export function formatInterval(seconds: number): string {
  const units: Array<[string, number]> = [
    ['h', 3600],
    ['m', 60],
  ];
  let rest = seconds;
  let text = '';
  for (const [unit, size] of units) {
    if (rest >= size) {
      text += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  if (rest > 0 || text === '') text += `${Math.round(rest * 1000) / 1000}s`;
  return text;
}
