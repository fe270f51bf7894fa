// Group results as lm-eval aggregates them (its aggregate_metric_list with weight_by_size: true):
// over a group's leaf tasks (its members, and their members' leaves, that were run), each metric
// is Σ value·size / Σ size with size = the task's document count, and its stderr the pooled
// sample stderr √(Σ (size−1)·size·stderr² / (Σ size − tasks) / Σ size); "N/A" (undefined) when a
// leaf has none. A group none of whose leaves ran is left out.

import type { AggregatedMetric, MetricName } from "./metrics.ts";
import type { TaskResult } from "./runner.ts";
import type { TaskGroup } from "./tasks/mmlu.ts";

export type { TaskGroup };

export interface GroupResult {
  group: TaskGroup;
  /** Its members that ran (tasks or groups), in the group's order. */
  members: string[];
  /** Documents over its leaf tasks. */
  size: number;
  metrics: Map<MetricName, AggregatedMetric>;
}

/** The groups (of `groups`) with at least one leaf task among `results`, in `groups`' order. */
export function aggregateGroups(
  groups: readonly TaskGroup[],
  results: TaskResult[],
): GroupResult[] {
  const byName = new Map(groups.map((g) => [g.name, g]));
  const ran = new Map(results.map((r) => [r.task.name, r]));
  const leaves = (name: string): TaskResult[] => {
    const group = byName.get(name);
    if (!group) return ran.has(name) ? [ran.get(name)!] : [];
    return group.members.flatMap(leaves);
  };
  const out: GroupResult[] = [];
  for (const group of groups) {
    const tasks = leaves(group.name);
    if (tasks.length === 0) continue;
    const sizes = tasks.map((t) => t.docs.length);
    const total = sizes.reduce((a, b) => a + b, 0);
    const metrics = new Map<MetricName, AggregatedMetric>();
    for (const name of group.metrics) {
      const having = tasks.filter((t) => t.metrics.has(name));
      if (having.length === 0) continue;
      const n = having.map((t) => t.docs.length);
      const m = having.map((t) => t.metrics.get(name)!);
      const sum = n.reduce((a, b) => a + b, 0);
      const value = m.reduce((acc, x, i) => acc + x.value * n[i], 0) / sum;
      const stderr = m.every((x) => x.stderr !== undefined)
        ? Math.sqrt(
          m.reduce((acc, x, i) => acc + (n[i] - 1) * x.stderr! ** 2 * n[i], 0) /
            (sum - n.length) / sum,
        )
        : undefined;
      metrics.set(name, { value, stderr });
    }
    out.push({
      group,
      members: group.members.filter((m) => leaves(m).length > 0),
      size: total,
      metrics,
    });
  }
  return out;
}
