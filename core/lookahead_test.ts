import assert from "node:assert/strict";
import { Lookahead } from "./lookahead.ts";

/** The depth after tokens arrive every `interval` ms (ten of them). */
function settle(lookahead: Lookahead, interval: number): number {
  for (let i = 1; i <= 10; i++) lookahead.arrived(i * interval);
  return lookahead.depth;
}

Deno.test("the lookahead covers two poll latencies at the pace tokens arrive", () => {
  // Two steps until tokens arrive; then enough for 2 × 11 ms at each pace, within 2 … limit.
  assert.equal(new Lookahead(11, 8).depth, 2);
  assert.equal(settle(new Lookahead(11, 8), 100), 2); // a software GPU's 100 ms steps
  assert.equal(settle(new Lookahead(11, 8), 7.5), 4); // ceil(22 / 7.5) + 1
  assert.equal(settle(new Lookahead(11, 8), 3.5), 8); // a GPU's 3.5 ms steps: the limit
  assert.equal(settle(new Lookahead(11, 5), 1), 5);
  assert.equal(settle(new Lookahead(11, 1), 1), 1); // a limit below 2 holds
  // Fixed: always the limit, whatever the pace.
  const fixed = new Lookahead(11, 6, true);
  assert.equal(fixed.depth, 6);
  assert.equal(settle(fixed, 100), 6);
});
