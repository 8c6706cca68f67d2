import type { RiskPolicy } from './types.js';

export type AllowedHours = NonNullable<RiskPolicy['allowed_hours']>;

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const MAX_FORMATTERS = 1000;

/** One formatter per time zone (constructing one costs far more than using it); bounded. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // hourCycle h23: midnight is 00, never 24.
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    if (formatters.size >= MAX_FORMATTERS) formatters.clear();
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * The last answer per zone: formatting costs microseconds and every call of a minute gets the
 * same answer (zone offsets are whole minutes), so one entry per zone is enough.
 */
const lastAnswer = new Map<string, { at: number; local: { day: number; minute: number } }>();

/** Local weekday (0 = Sunday) and minute of the day at nowMs in the zone. */
export function localTime(timeZone: string, nowMs: number): { day: number; minute: number } {
  const at = Math.floor(nowMs / 60_000);
  const last = lastAnswer.get(timeZone);
  if (last?.at === at) return last.local;
  const local = Object.freeze(formatLocal(timeZone, nowMs));
  if (lastAnswer.size >= MAX_FORMATTERS) lastAnswer.clear();
  lastAnswer.set(timeZone, { at, local });
  return local;
}

function formatLocal(timeZone: string, nowMs: number): { day: number; minute: number } {
  let day = 0;
  let hour = 0;
  let minute = 0;
  for (const part of formatterFor(timeZone).formatToParts(nowMs)) {
    if (part.type === 'weekday') day = WEEKDAYS[part.value] ?? 0;
    else if (part.type === 'hour') hour = Number(part.value);
    else if (part.type === 'minute') minute = Number(part.value);
  }
  return { day, minute: hour * 60 + minute };
}

const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * Whether nowMs falls in the window: [from, to) in local time, on the listed days (all days when
 * absent or empty). A window with to < from wraps midnight, and then `days` names the day the
 * window opens: with days [5] and 22:00–06:00, Saturday 02:00 is inside (Friday night's shift).
 * from === to (refused by checkPolicy) and an unknown zone are outside: a broken policy fails closed.
 */
export function withinHours(hours: AllowedHours, nowMs: number): boolean {
  let local: { day: number; minute: number };
  try {
    local = localTime(hours.timezone, nowMs);
  } catch {
    return false;
  }
  const from = minutesOf(hours.from);
  const to = minutesOf(hours.to);
  const dayAllowed = (d: number) => !hours.days?.length || hours.days.includes(d);
  if (from < to) return local.minute >= from && local.minute < to && dayAllowed(local.day);
  if (from > to) {
    if (local.minute >= from) return dayAllowed(local.day);
    if (local.minute < to) return dayAllowed((local.day + 6) % 7);
  }
  return false;
}
