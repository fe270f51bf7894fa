// `gemma eval --tasks`: task and group names → the tasks to run. A group (mmlu, mmlu_stem, …)
// stands for its leaf tasks, each run if the data has it ("optional"); custom tasks from
// --task-file join the known ones by their names.

import {
  type AnyTask,
  GROUPS,
  MMLU_SUBJECTS,
  type MultipleChoiceTask,
  OTHER_TASKS,
  type TaskGroup,
  TASKS,
} from "../core/eval/mod.ts";
import { UsageError } from "./common.ts";

/** A task or split with no data: skipped when a group asked for it, else an error. */
export class NoDataError extends UsageError {
  override name = "NoDataError";
}

export interface TaskSelection {
  /** Tasks in order; `optional` ones came from a group and are skipped when they have no data. */
  tasks: { task: AnyTask; optional: boolean }[];
  /** The groups asked for and the groups inside them, to aggregate. */
  groups: TaskGroup[];
}

/**
 * The known names, mmlu's subjects folded into one entry: listed in full for the unknown-task
 * message, counted for --help.
 */
export function knownTaskNames(custom: MultipleChoiceTask[] = [], subjects = true): string {
  const plain = TASKS.filter((t) => !t.name.startsWith("mmlu_")).map((t) => t.name);
  return [
    ...plain,
    ...OTHER_TASKS.map((t) => t.name),
    ...custom.map((t) => t.name),
    ...GROUPS.map((g) => g.name),
    subjects
      ? `mmlu_<subject> for ${MMLU_SUBJECTS.join(", ")}`
      : `mmlu_<subject> (${MMLU_SUBJECTS.length} subjects)`,
  ].join(", ");
}

export function resolveTasks(
  list: string | undefined,
  custom: MultipleChoiceTask[],
): TaskSelection {
  const names = (list ?? custom.map((t) => t.name).join(","))
    .split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (names.length === 0) throw new UsageError("--tasks names no task (or pass --task-file)");
  const all: AnyTask[] = [...custom, ...TASKS, ...OTHER_TASKS];
  const byGroup = new Map(GROUPS.map((g) => [g.name, g]));
  const tasks: TaskSelection["tasks"] = [];
  const groups: TaskGroup[] = [];
  const add = (name: string, optional: boolean): void => {
    const group = byGroup.get(name);
    if (group) {
      if (!groups.includes(group)) groups.push(group);
      for (const member of group.members) add(member, true);
      return;
    }
    const task = all.find((t) => t.name === name);
    if (!task) throw new UsageError(`unknown task "${name}" (known: ${knownTaskNames(custom)})`);
    const seen = tasks.find((t) => t.task === task);
    if (seen) seen.optional &&= optional;
    else tasks.push({ task, optional });
  };
  for (const name of new Set(names)) add(name, false);
  return { tasks, groups };
}
