/**
 * Issue 10's goals, judged on one run's figures: each goal, what this run measured for Tollgate,
 * and what the bare check peer (bench/bare-check.ts) measured for the same thing where it ran it,
 * so that a goal not met shows whether anything on this machine meets it. Pure: figures in, rows out.
 */

/** What the goals read of a phase (a subset of run.ts's PhaseStats). */
export interface GoalPhase {
  requests_per_second: number;
  latency_ms: { p99: number };
  percent_of_floor?: number;
  server_cores_per_1000_per_second: number | null;
  server_event_loop_delay_ms: { max: number };
  offered_per_second?: number;
}

export interface GoalFigures {
  phases: Record<string, GoalPhase>;
  open_model: GoalPhase[];
  /** The peer's open model at 500/s, when it ran. */
  bare_peer_open?: GoalPhase;
  floors: { check: { per_second: number }; introspection_plain: { per_second: number }; token_issuance: { per_second: number } };
  /** Event loops this process can measure (false with BENCH_WORKERS > 1). */
  in_process: boolean;
}

export interface GoalRow {
  goal: string;
  target: string;
  tollgate: string;
  peer: string;
  /** null: this run does not measure it. */
  met: boolean | null;
}

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${x.toFixed(1)} %`);
const ms = (x: number | undefined) => (x === undefined ? 'n/a' : `${x.toFixed(1)} ms`);
const cores = (x: number | null | undefined) => (x === null || x === undefined ? 'n/a' : x.toFixed(3));

export function issue10Goals(r: GoalFigures): GoalRow[] {
  const { check, bare_check_peer: peer, introspection_plain: plain, introspection_with_proof: withProof, token_issuance: tokens } = r.phases;
  const rows: GoalRow[] = [];
  rows.push({ goal: '/check, closed loop', target: '>= 50 % of floor', tollgate: pct(check?.percent_of_floor), peer: pct(peer?.percent_of_floor), met: (check?.percent_of_floor ?? 0) >= 50 });
  const srv = check?.server_cores_per_1000_per_second ?? null;
  rows.push({ goal: '/check, server cores per 1,000/s', target: '<= 0.15', tollgate: cores(srv), peer: cores(peer?.server_cores_per_1000_per_second), met: srv === null ? null : srv <= 0.15 });
  const at500 = r.open_model.find((o) => o.offered_per_second === 500);
  rows.push({ goal: '/check, open model 500/s, p99', target: '<= 2 ms', tollgate: ms(at500?.latency_ms.p99), peer: ms(r.bare_peer_open?.latency_ms.p99), met: at500 ? at500.latency_ms.p99 <= 2 : null });
  // The goal's rate is a third of 50 % of the floor; the bench offers a third of what the closed loop reached.
  const third = Math.round((r.floors.check.per_second * 0.5) / 3);
  const atThird = r.open_model.find((o) => o.offered_per_second !== 500);
  rows.push({
    goal: `/check, open model ${third}/s, p99`,
    target: '<= 5 ms',
    tollgate: atThird ? `${ms(atThird.latency_ms.p99)} at ${atThird.offered_per_second}/s` : 'n/a',
    peer: '',
    met: atThird && atThird.offered_per_second! >= third ? atThird.latency_ms.p99 <= 5 : false,
  });
  rows.push({ goal: 'introspection, plain', target: '>= 40 % of floor', tollgate: pct(plain?.percent_of_floor), peer: '', met: (plain?.percent_of_floor ?? 0) >= 40 });
  rows.push({ goal: 'introspection with proof and context', target: '>= 40 % of floor', tollgate: pct(withProof?.percent_of_floor), peer: '', met: (withProof?.percent_of_floor ?? 0) >= 40 });
  rows.push({ goal: 'token issuance', target: '>= 15 % of floor', tollgate: pct(tokens?.percent_of_floor), peer: '', met: (tokens?.percent_of_floor ?? 0) >= 15 });
  // p99 at 70 % of the goal's rate: unreachable while the closed loop stays below that rate.
  const seventy = Math.round(r.floors.token_issuance.per_second * 0.15 * 0.7);
  rows.push({
    goal: `token issuance at ${seventy}/s, p99`,
    target: '<= 20 ms',
    tollgate: tokens ? `closed loop reaches ${tokens.requests_per_second.toFixed(0)}/s` : 'n/a',
    peer: '',
    met: tokens && tokens.requests_per_second < seventy ? false : null,
  });
  if (r.in_process) {
    const open = r.open_model.map((o) => o.server_event_loop_delay_ms.max);
    const worstOpen = open.length ? Math.max(...open) : undefined;
    rows.push({
      goal: 'event-loop stall, open model',
      target: '<= 10 ms',
      tollgate: ms(worstOpen),
      peer: ms(r.bare_peer_open?.server_event_loop_delay_ms.max),
      met: worstOpen === undefined ? null : worstOpen <= 10,
    });
    const closed = Object.entries(r.phases).filter(([name]) => name !== 'bare_check_peer');
    const [worstName, worst] = closed.reduce((a, b) => (b[1].server_event_loop_delay_ms.max > a[1].server_event_loop_delay_ms.max ? b : a));
    rows.push({
      goal: 'event-loop stall, closed loop',
      target: '<= 10 ms',
      tollgate: `${ms(worst.server_event_loop_delay_ms.max)} in ${worstName}`,
      peer: ms(peer?.server_event_loop_delay_ms.max),
      met: worst.server_event_loop_delay_ms.max <= 10,
    });
  }
  return rows;
}

/** The rows as the bench prints them under its table. */
export function goalLines(rows: GoalRow[]): string[] {
  const lines = [`issue 10's goals in this run ${''.padEnd(12)}${'goal'.padEnd(18)}${'Tollgate'.padEnd(40)}${'bare peer'.padEnd(12)}`];
  for (const g of rows) {
    const verdict = g.met === null ? 'not measured' : g.met ? 'met' : 'NOT MET';
    lines.push(`  ${g.goal.padEnd(40)}${g.target.padEnd(18)}${g.tollgate.padEnd(40)}${g.peer.padEnd(12)}${verdict}`);
  }
  return lines;
}
