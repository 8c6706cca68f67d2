/**
 * The learned rate: an exponentially weighted moving average of allowed calls per minute,
 * updated once per completed minute (alpha 0.2: the last ~5 active minutes weigh most).
 * Only minutes with at least one allowed call count: a workload that runs in bursts is compared
 * with its usual rate while active, not diluted by idle hours. Both stores use these functions
 * (the Redis store's Lua script does the same arithmetic, tested against the same suite).
 */
export const EWMA_ALPHA = 0.2;

export interface BaselineRecord {
  /** Minute (epoch ms / 60000) being counted, -1 before the first call. */
  minute: number;
  /** Allowed calls counted in that minute so far. */
  count: number;
  /** Moving average over completed minutes, and how many have been folded in. */
  avg: number;
  minutes: number;
}

export const emptyBaseline = (): BaselineRecord => ({ minute: -1, count: 0, avg: 0, minutes: 0 });

export const minuteOf = (ms: number): number => Math.floor(ms / 60_000);

function fold(avg: number, minutes: number, count: number): { avg: number; minutes: number } {
  return { avg: minutes === 0 ? count : EWMA_ALPHA * count + (1 - EWMA_ALPHA) * avg, minutes: minutes + 1 };
}

/** One more allowed call at `minute`: a new minute first folds the completed one in. */
export function learnBaseline(b: BaselineRecord, minute: number): void {
  if (minute > b.minute) {
    if (b.minute >= 0) Object.assign(b, fold(b.avg, b.minutes, b.count));
    b.minute = minute;
    b.count = 0;
  }
  // A call stamped with an earlier minute (clock skew between instances) counts in the current one.
  b.count++;
}

/** The baseline as of `minute`: a counted minute that has ended is folded in (without writing). */
export function readBaseline(b: BaselineRecord, minute: number): { perMinute: number; minutes: number } {
  if (b.minute >= 0 && b.minute < minute) {
    const f = fold(b.avg, b.minutes, b.count);
    return { perMinute: f.avg, minutes: f.minutes };
  }
  return { perMinute: b.avg, minutes: b.minutes };
}
