import { setTimeout as sleep } from 'node:timers/promises';
import { type CommandContext, type CommandResult, parse } from './command.js';
import { UsageError } from './failures.js';

export const DECISIONS_USAGE = `tollgate decisions tail [--client CLIENT_ID] [--decision allow|step_up|deny|invalid]
                        [--lines N] [--interval SECONDS] [--no-follow]`;

interface Decision {
  decision_id: string;
  at: string;
  kind: string;
  client_id: string | null;
  method: string | null;
  route: string | null;
  decision: string;
  score: number | null;
  reasons: { code: string; detail?: string }[];
  ip: string | null;
}

interface Page {
  decisions: Decision[];
  next_cursor: string | null;
}

// Decisions are written in batches (libs/audit DecisionLog), each instance on its own: one can
// appear after a later one was already seen. Each poll looks back this far and skips what it has
// printed (by decision_id).
const LOOK_BACK_MS = 30_000;
const PAGE = 200;

const line = (d: Decision) =>
  [
    d.at,
    d.decision.padEnd(7),
    d.kind.padEnd(10),
    (d.client_id ?? '-').padEnd(20),
    `${d.method ?? ''} ${d.route ?? ''}`.trim() || '-',
    d.score !== null ? `score=${d.score}` : '',
    d.reasons.map((r) => (r.detail ? `${r.code}(${r.detail})` : r.code)).join(','),
  ]
    .filter(Boolean)
    .join('  ');

/**
 * Follows GET /admin/decisions: prints the last `--lines` decisions, oldest first, then polls for
 * new ones until interrupted. --json prints one JSON object a line.
 */
export async function decisions(args: string[], ctx: CommandContext): Promise<CommandResult> {
  const [sub, ...rest] = args;
  if (sub !== 'tail') throw new UsageError(sub ? `unknown command: decisions ${sub}\n${DECISIONS_USAGE}` : DECISIONS_USAGE);
  const { values } = parse(
    rest,
    { client: { type: 'string' }, decision: { type: 'string' }, lines: { type: 'string' }, interval: { type: 'string' }, 'no-follow': { type: 'boolean' } },
    { min: 0, max: 0, names: '' },
  );
  const lines = values.lines ?? '20';
  if (!/^\d+$/.test(lines) || Number(lines) > PAGE) throw new UsageError(`--lines must be a number from 0 to ${PAGE}`);
  const interval = Number(values.interval ?? '2');
  if (!(interval >= 0.1 && interval <= 3600)) throw new UsageError('--interval must be a number of seconds (0.1 to 3600)');
  const filter = { ...(values.client ? { client_id: values.client } : {}), ...(values.decision ? { decision: values.decision } : {}) };

  const printed = new Map<string, number>();
  const show = (found: Decision[]) => {
    for (const d of found.sort((a, b) => a.at.localeCompare(b.at) || a.decision_id.localeCompare(b.decision_id))) {
      if (printed.has(d.decision_id)) continue;
      printed.set(d.decision_id, Date.parse(d.at));
      ctx.print(ctx.json ? JSON.stringify(d) : line(d));
    }
  };

  /** Every decision at or after `watermark - LOOK_BACK_MS`, all pages. */
  const recent = async (watermark: number) => {
    const since = new Date(watermark - LOOK_BACK_MS).toISOString();
    const found: Decision[] = [];
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ ...filter, since, limit: String(PAGE), ...(cursor ? { cursor } : {}) });
      const page: Page = await ctx.api.request<Page>('GET', `/admin/decisions?${query}`);
      found.push(...page.decisions);
      cursor = page.next_cursor;
    } while (cursor);
    return found;
  };

  let watermark = Date.now();
  if (Number(lines) > 0) {
    const first = await ctx.api.request<Page>('GET', `/admin/decisions?${new URLSearchParams({ ...filter, limit: lines })}`);
    show(first.decisions);
  }
  if (values['no-follow']) return { text: '' };
  // What the look-back window holds now is history, not news: remembered, not printed.
  for (const d of await recent(watermark)) {
    printed.set(d.decision_id, Date.parse(d.at));
    watermark = Math.max(watermark, Date.parse(d.at));
  }

  while (!ctx.signal.aborted) {
    await sleep(interval * 1000, undefined, { signal: ctx.signal }).catch(() => undefined);
    if (ctx.signal.aborted) break;
    const found = await recent(watermark);
    show(found);
    for (const d of found) watermark = Math.max(watermark, Date.parse(d.at));
    // Only what can still come back in a look-back window needs remembering.
    for (const [id, at] of printed) if (at < watermark - 2 * LOOK_BACK_MS) printed.delete(id);
  }
  return { text: '' };
}
