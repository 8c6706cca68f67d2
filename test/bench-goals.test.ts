import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type GoalPhase, issue10Goals } from '../bench/goals.js';

// The bench judges issue 10's goals on its own figures (bench/goals.ts): each verdict must follow
// the goal's bound, on either side of it, and say "not measured" where the run had no figure.
const phase = (percent: number, extra: Partial<GoalPhase> = {}): GoalPhase => ({
  requests_per_second: 1000,
  latency_ms: { p99: 10 },
  percent_of_floor: percent,
  server_cores_per_1000_per_second: 0.5,
  server_event_loop_delay_ms: { max: 50 },
  ...extra,
});
const floors = { check: { per_second: 12_000 }, introspection_plain: { per_second: 24_000 }, token_issuance: { per_second: 10_000 } };
const verdicts = (rows: ReturnType<typeof issue10Goals>) => Object.fromEntries(rows.map((r) => [r.goal, r.met]));

describe('bench: issue 10 goals judged on a run', () => {
  it('a run meeting every bound is judged met on every row it measures', () => {
    const fast = { server_cores_per_1000_per_second: 0.15, server_event_loop_delay_ms: { max: 10 } };
    const rows = issue10Goals({
      phases: { check: phase(50, fast), introspection_plain: phase(40, fast), introspection_with_proof: phase(40, fast), token_issuance: phase(15, { ...fast, requests_per_second: 1100 }) },
      open_model: [phase(4, { ...fast, offered_per_second: 500, latency_ms: { p99: 2 } }), phase(16, { ...fast, offered_per_second: 2000, latency_ms: { p99: 5 } })],
      floors,
      in_process: true,
    });
    const v = verdicts(rows);
    assert.equal(v['/check, closed loop'], true);
    assert.equal(v['/check, server cores per 1,000/s'], true);
    assert.equal(v['/check, open model 500/s, p99'], true);
    assert.equal(v['/check, open model 2000/s, p99'], true);
    assert.equal(v['introspection, plain'], true);
    assert.equal(v['introspection with proof and context'], true);
    assert.equal(v['token issuance'], true);
    assert.equal(v['token issuance at 1050/s, p99'], null, 'no open model of token issuance: not measured');
    assert.equal(v['event-loop stall, open model'], true);
    assert.equal(v['event-loop stall, closed loop'], true);
  });

  it('just past each bound is NOT MET, with the peer figure beside Tollgate where it ran', () => {
    const rows = issue10Goals({
      phases: {
        check: phase(49.9, { server_cores_per_1000_per_second: 0.151 }),
        bare_check_peer: phase(30, { server_cores_per_1000_per_second: 0.3 }),
        introspection_plain: phase(39.9),
        introspection_with_proof: phase(39.9),
        token_issuance: phase(14.9, { requests_per_second: 300 }),
      },
      open_model: [phase(4, { offered_per_second: 500, latency_ms: { p99: 2.01 } }), phase(4, { offered_per_second: 400, latency_ms: { p99: 1 } })],
      bare_peer_open: phase(4, { offered_per_second: 500, latency_ms: { p99: 6.4 } }),
      floors,
      in_process: true,
    });
    for (const row of rows) assert.equal(row.met, false, row.goal);
    const closed = rows.find((r) => r.goal === '/check, closed loop')!;
    assert.equal(closed.tollgate, '49.9 %');
    assert.equal(closed.peer, '30.0 %');
    assert.equal(rows.find((r) => r.goal === '/check, open model 500/s, p99')!.peer, '6.4 ms');
    // An open model below the goal's rate cannot show the goal met, whatever its p99.
    assert.match(rows.find((r) => r.goal.startsWith('/check, open model 2000/s'))!.tollgate, /at 400\/s/);
  });

  it('without the server in this process, the stall rows are left out', () => {
    const rows = issue10Goals({ phases: { check: phase(10) }, open_model: [], floors, in_process: false });
    assert.ok(!rows.some((r) => r.goal.startsWith('event-loop stall')));
    assert.equal(verdicts(rows)['/check, open model 500/s, p99'], null);
  });
});
