import assert from "node:assert/strict";
import { Lookahead, StepQueue } from "./lookahead.ts";

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

Deno.test("a step queue takes steps while it has room, and hands them back in order", async () => {
  const queue = new StepQueue<{ tokens: Promise<number>; k: number }>(11, 4);
  assert.ok(queue.hasRoom(true)); // empty: even while sequences wait to start
  queue.push({ tokens: Promise.resolve(10), k: 0 });
  assert.ok(!queue.hasRoom(true)); // waiting sequences start only from an empty queue
  assert.ok(queue.hasRoom(false));
  queue.push({ tokens: Promise.resolve(11), k: 1 });
  assert.ok(!queue.hasRoom(false)); // the lookahead's first depth: 2
  queue.push({ tokens: Promise.reject(new Error("lost")), k: 2 }); // not an unhandled rejection
  const first = await queue.next();
  assert.deepEqual([first.step.k, first.tokens], [0, 10]);
  assert.equal((await queue.next()).tokens, 11);
  await assert.rejects(() => queue.next(), /lost/);
  await queue.settle();
  await assert.rejects(() => queue.next(), /no queued step/);
});
