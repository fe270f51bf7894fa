// `gemma eval`: benchmark tasks scored as lm-evaluation-harness scores them (log-likelihood
// multiple choice, generated answers, perplexities). Prints lm-eval's table; --output writes its
// results JSON.

import { Command } from "commander";
import { GemmaSession } from "../core/mod.ts";
import {
  type AnyTask,
  type AnyTaskResult,
  EvalDataError,
  type FewshotOptions,
  findAnyTask,
  isMultipleChoice,
  OTHER_TASKS,
  readRecords,
  resultsJson,
  resultsTable,
  runKindTask,
  runTask,
  sampleLines,
  type SourcedRecord,
  TASKS,
} from "../core/eval/mod.ts";
import { parseInteger, UsageError, writeStdout } from "./common.ts";
import { type LoadedModel, loadModel } from "./model_source.ts";

interface EvalFlags {
  model?: string;
  tasks: string;
  data: string[];
  limit?: number;
  numFewshot?: number;
  fewshotData: string[];
  maxGenToks?: number;
  output?: string;
  logSamples?: string;
  ctx?: number;
  dtype?: string;
  quant?: string;
  quiet?: boolean;
}

const DATA_EXTENSIONS = [".jsonl", ".json", ".parquet", ".txt"];

export function evalCommand(): Command {
  const names = [...TASKS, ...OTHER_TASKS].map((t) => t.name).join(", ");
  return new Command("eval")
    .description("Score a model on benchmarks as lm-evaluation-harness does")
    .requiredOption("--tasks <list>", `comma-separated tasks: ${names}`)
    .option(
      "--data <path>",
      "TASK=FILE, a FILE (one task), or a folder: TASK.jsonl, .json or .parquet, or a Hugging Face dataset's files (e.g. ARC-Easy/test-00000-of-00001.parquet) (repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option(
      "-m, --model <path>",
      "a model name (gemma3:270m, the default), a Hugging Face folder or a .gguf file",
    )
    .option(
      "--num-fewshot <n>",
      "examples before each question, drawn as lm-eval draws them (default 0; gsm8k 5)",
      parseInteger("--num-fewshot"),
    )
    .option(
      "--max-gen-toks <n>",
      "most tokens generated per answer (lm-eval's max_gen_toks; default 256)",
      parseInteger("--max-gen-toks", 1),
    )
    .option(
      "--fewshot-data <path>",
      "the few-shot (training) split, as --data: TASK=FILE, a FILE, or a folder with TASK_train.jsonl, .json, .parquet or <config>/train-*.parquet (default: the --data folders)",
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option("--limit <n>", "only the first n documents of each task", parseInteger("--limit", 1))
    .option("--output <file>", "write lm-eval's results JSON here")
    .option("--log-samples <file>", "write one JSON line per document (its requests and scores)")
    .option(
      "--ctx <n>",
      "context length; longer requests lose their start",
      parseInteger("--ctx", 2),
    )
    .option("--dtype <type>", "weight precision on the GPU: f16 or f32 (default f16 if supported)")
    .option("--quant <type>", "quantize float weights on load: q8_0 or q4_0")
    .option("-q, --quiet", "no notices or progress on stderr")
    .action(async (flags: EvalFlags) => {
      try {
        await runEval(flags);
      } catch (error) {
        if (error instanceof EvalDataError) throw new UsageError(error.message);
        throw error;
      }
    });
}

async function runEval(flags: EvalFlags): Promise<void> {
  const tasks = parseTasks(flags.tasks);
  // Every file is read and every record checked before the model loads.
  const data: { task: AnyTask; records: SourcedRecord[]; fewshot?: FewshotOptions }[] = [];
  for (const task of tasks) {
    const numFewshot = flags.numFewshot ??
      (!isMultipleChoice(task) && task.kind === "generate_until" ? task.defaultFewshot : 0);
    if (numFewshot > 0 && !isMultipleChoice(task) && task.kind !== "generate_until") {
      throw new UsageError(`--num-fewshot: ${task.name} (${task.kind}) takes no few-shot examples`);
    }
    const records = await readSplit(task, flags.data, tasks.length, task.split);
    let fewshot: FewshotOptions | undefined;
    if (numFewshot > 0) {
      // Without --fewshot-data, the training split is looked for in the --data folders.
      const from = flags.fewshotData.length > 0 ? flags.fewshotData : await folders(flags.data);
      const pool = await readSplit(task, from, tasks.length, task.fewshotSplit);
      if (pool.length < numFewshot) {
        throw new UsageError(
          `--num-fewshot ${numFewshot}: the few-shot data of ${task.name} has ${pool.length} documents`,
        );
      }
      fewshot = { count: numFewshot, records: pool };
    }
    data.push({ task, records, fewshot });
  }
  const loaded = await loadModel(flags);
  const session = new GemmaSession(loaded.model, { contextLength: flags.ctx });
  const maxLength = session.contextLength - 1;
  const start = performance.now();
  const results: AnyTaskResult[] = [];
  const progress = !flags.quiet && Deno.stderr.isTerminal();
  try {
    for (const { task, records, fewshot } of data) {
      const options = {
        limit: flags.limit,
        fewshot,
        maxLength,
        onProgress: progress ? progressWithEta(task.name) : undefined,
      };
      const result = isMultipleChoice(task)
        ? await runTask(session, loaded.tokenizer, task, records, options)
        : await runKindTask(session, loaded.tokenizer, task, records, {
          ...options,
          stopTokenIds: endTokenIds(loaded),
          maxGenToks: flags.maxGenToks,
        });
      const documents = "docs" in result ? result.docs.length : result.evaluated;
      if (progress) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
      if (!flags.quiet) {
        const rate = result.requests / result.seconds;
        const cut = result.truncatedRequests
          ? `, ${result.truncatedRequests} cut from the left to fit ${maxLength} tokens`
          : "";
        console.error(
          `note: ${task.name}: ${documents} documents, ${result.requests} requests in ${
            result.seconds.toFixed(1)
          } s (${rate.toFixed(1)} requests/s${cut})`,
        );
      }
      results.push(result);
    }
  } finally {
    session.destroy();
    loaded.model.destroy();
  }
  writeStdout(resultsTable(results) + "\n");
  if (flags.output) {
    const json = resultsJson(results, {
      model: loaded.source.known?.name ?? loaded.source.path,
      limit: flags.limit,
      maxLength,
      totalSeconds: (performance.now() - start) / 1000,
    });
    await writeAtomically(flags.output, JSON.stringify(json, null, 2) + "\n");
  }
  if (flags.logSamples) {
    await writeAtomically(flags.logSamples, sampleLines(results).map((l) => l + "\n").join(""));
  }
}

/** "arc_easy 120/400 requests, 3.1/s, ETA 1m30s" on one line of stderr. */
function progressWithEta(label: string) {
  const encoder = new TextEncoder();
  const start = performance.now();
  return (done: number, total: number) => {
    const seconds = (performance.now() - start) / 1000;
    const rate = done / Math.max(seconds, 1e-9);
    const left = Math.round((total - done) / rate);
    const eta = left >= 60 ? `${Math.floor(left / 60)}m${left % 60}s` : `${left}s`;
    const text = `${label} ${done}/${total} requests, ${rate.toFixed(1)}/s, ETA ${eta}`;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${text}`));
  };
}

/** What ends a generated answer, as HF's generate and lm-eval's until list: the end tokens. */
function endTokenIds(loaded: LoadedModel): number[] {
  const ids = new Set([...loaded.model.config.eosTokenIds, loaded.tokenizer.eosId]);
  for (const id of loaded.checkpoint.generation.eosTokenIds ?? []) ids.add(id);
  return [...ids];
}

function parseTasks(list: string): AnyTask[] {
  const names = list.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (names.length === 0) throw new UsageError("--tasks names no task");
  return [...new Set(names)].map((name) => {
    const task = findAnyTask(name);
    if (!task) {
      const known = [...TASKS, ...OTHER_TASKS].map((t) => t.name).join(", ");
      throw new UsageError(`unknown task "${name}" (known: ${known})`);
    }
    return task;
  });
}

/** Reads and checks every record of a task's split (see dataPaths). */
async function readSplit(
  task: AnyTask,
  values: string[],
  taskCount: number,
  split: string,
): Promise<SourcedRecord[]> {
  const records: SourcedRecord[] = [];
  for (const path of await dataPaths(task, values, taskCount, split)) {
    records.push(...await readRecords(path));
  }
  if (records.length === 0) throw new UsageError(`no documents for ${task.name} (${split})`);
  for (const record of records) task.doc(record);
  return records;
}

/**
 * The data files of `task`'s `split` from --data (or --fewshot-data) values: TASK=FILE; a FILE
 * when there is one task; or in a folder TASK.jsonl / .json / .parquet (TASK_train.… for the
 * few-shot split), else the dataset repo's shards of the split (`<config or data>/<split>-*`, as
 * allenai/ai2_arc's ARC-Easy/test-00000-of-00001.parquet).
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
    const folder = value.replace(/\/$/, "");
    for (const ext of DATA_EXTENSIONS) {
      const path = `${folder}/${stem}${ext}`;
      if ((await stat(path))?.isFile) return [path];
    }
    const shards = `${folder}/${task.datasetName ?? "data"}`;
    if ((await stat(shards))?.isDirectory) {
      const found: string[] = [];
      for await (const entry of Deno.readDir(shards)) {
        if (entry.name.startsWith(`${split}-`) && /\.(parquet|jsonl|json)$/.test(entry.name)) {
          found.push(`${shards}/${entry.name}`);
        }
      }
      if (found.length > 0) return found.sort();
    }
  }
  throw new UsageError(
    `no data for ${task.name} (${split}): pass ${flag} ${task.name}=FILE, or a folder holding ${stem}.jsonl`,
  );
}

/** The values that are folders (a file given to --data is the evaluated split, never few-shot). */
async function folders(values: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const value of values) if ((await stat(value))?.isDirectory) out.push(value);
  return out;
}

async function stat(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
}

/** Writes a file so that it is never seen half-written: a temporary file renamed over it. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temporary = `${path}.${Deno.pid}.tmp`;
  try {
    await Deno.writeTextFile(temporary, text);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
}
