import assert from "node:assert/strict";
import { aggregateGroups } from "./groups.ts";
import { aggregate, type DocMetrics } from "./metrics.ts";
import type { TaskResult } from "./runner.ts";
import { findTask, GROUPS } from "./tasks/mod.ts";

function result(name: string, accs: number[]): TaskResult {
  const docs = accs.map((acc) => ({ metrics: { acc } as DocMetrics }));
  return {
    task: findTask(name)!,
    docs,
    metrics: aggregate(docs.map((d) => d.metrics)),
  } as unknown as TaskResult;
}

Deno.test("groups: the size-weighted mean and lm-eval's pooled stderr over the leaves run", () => {
  const results = [
    result("mmlu_anatomy", [1, 0, 0]),
    result("mmlu_astronomy", [1, 1]),
    result("mmlu_marketing", [0, 1, 1, 1]),
  ];
  const groups = aggregateGroups(GROUPS, results);
  assert.deepEqual(groups.map((g) => g.group.name), ["mmlu", "mmlu_other", "mmlu_stem"]);
  const [mmlu, other, stem] = groups;
  assert.deepEqual(mmlu.members, ["mmlu_other", "mmlu_stem"]);
  assert.equal(mmlu.size, 9);
  assert.ok(Math.abs(mmlu.metrics.get("acc")!.value - 6 / 9) < 1e-15);
  assert.ok(Math.abs(stem.metrics.get("acc")!.value - 3 / 5) < 1e-15);
  assert.equal(other.metrics.get("acc")!.value, 0.75);
  // lm-eval's pooled_sample_stderr: √(Σ (n−1)·n·se² / (Σn − k) / Σn).
  const se = results.map((r) => r.metrics.get("acc")!.stderr!);
  const n = [3, 2, 4];
  const pooled = Math.sqrt(
    n.reduce((a, ni, i) => a + (ni - 1) * ni * se[i] ** 2, 0) / (9 - 3) / 9,
  );
  assert.ok(Math.abs(mmlu.metrics.get("acc")!.stderr! - pooled) < 1e-15);
  // A leaf with one document has no stderr, and then neither has its group.
  const one = aggregateGroups(GROUPS, [result("mmlu_anatomy", [1]), results[1]]);
  assert.equal(one[0].metrics.get("acc")!.stderr, undefined);
});
