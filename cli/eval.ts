// `gemma eval`: benchmark tasks scored as lm-evaluation-harness scores them (log-likelihood
// multiple choice, zero-shot). Prints lm-eval's table; --output writes its results JSON.

import { Command } from "commander";
import { defaultParallel, GemmaSession, maxSequences } from "../core/mod.ts";
import {
  aggregateGroups,
  type AnyTask,
  type AnyTaskResult,
  EvalDataError,
  type FewshotOptions,
  isMultipleChoice,
  type MultipleChoiceTask,
  type OlmoRequests,
  readOlmoRequests,
  readTaskFile,
  resultsJson,
  resultsTable,
  runKindTask,
  runOlmoRequests,
  runTask,
  sampleLines,
  ScoreCache,
  type SourcedRecord,
  type TaskResult,
} from "../core/eval/mod.ts";
import { parseInteger, UsageError, writeStdout } from "./common.ts";
import { dataFolders, readSplit } from "./eval_data.ts";
import { knownTaskNames, NoDataError, resolveTasks } from "./eval_tasks.ts";
import { type LoadedModel, loadModel } from "./model_source.ts";
import { addAdapterOptions } from "./generate.ts";

interface EvalFlags {
  model?: string;
  tasks?: string;
  taskFile: string[];
  olmoRequests: string[];
  mutualInfo?: boolean;
  cache?: string;
  data: string[];
  limit?: number;
  numFewshot?: number;
  fewshotData: string[];
  maxGenToks?: number;
  batchSize?: number;
  output?: string;
  logSamples?: string;
  ctx?: number;
  dtype?: string;
  quant?: string;
  quiet?: boolean;
  adapter?: string;
  adapterScale?: number;
}

/** A --tasks entry that names a task file rather than a task: a .yaml, .yml or .json path. */
function isTaskFilePath(name: string): boolean {
  return /\.(ya?ml|json)$/i.test(name);
}

/** Continuations scored in one forward call (KV caches besides the context's). */
const EVAL_BRANCHES = 8;

export function evalCommand(): Command {
  const names = knownTaskNames([], false);
  const repeat = (value: string, previous: string[]) => [...previous, value];
  const command = new Command("eval")
    .description("Score a model on benchmarks as lm-evaluation-harness does")
    .option(
      "--tasks <list>",
      `comma-separated tasks or groups (or task files, as --task-file): ${names}`,
    )
    .option(
      "--task-file <file>",
      "a custom task: JSON or YAML with doc_to_text, doc_to_choice, doc_to_target over a jsonl (examples/eval/) (repeatable)",
      repeat,
      [],
    )
    .option(
      "--olmo-requests <dir>",
      "an OLMo request folder (<task>/<variant>/config.json + requests.jsonl.gz), scored by lm-eval's and OLMo's definitions (repeatable)",
      repeat,
      [],
    )
    .option(
      "--mutual-info",
      "also lm-eval's acc_mutual_info (one unconditional request per choice)",
    )
    .option(
      "--cache <file>",
      "reuse the scores in this JSON-lines file and append each new one as it is computed (a killed run resumes)",
    )
    .option(
      "--data <path>",
      "TASK=FILE, a FILE (one task), or a folder: TASK.jsonl, .json or .parquet, a Hugging Face dataset's files (e.g. ARC-Easy/test-00000-of-00001.parquet) or a save_to_disk folder (<config>/test/state.json + data-*.arrow) (repeatable)",
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
      "the few-shot split (training; mmlu: dev), as --data: TASK=FILE, a FILE, or a folder with TASK_train.jsonl, .json, .parquet, <config>/train-*.parquet or <config>/train/ saved by save_to_disk (default: the --data folders)",
      (value: string, previous: string[]) => [...previous, value],
      [],
    )
    .option(
      "--batch-size <n>",
      "generated answers decoded together (continuous batching; 1: one at a time; default 4 on a software adapter, 8 on a GPU)",
      parseInteger("--batch-size", 1),
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
    .option("-q, --quiet", "no notices or progress on stderr");
  return addAdapterOptions(command)
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
  // As in lm-eval, a --tasks entry may be a task file's path: it runs as --task-file does, in
  // its place in the list.
  const listed = (flags.tasks ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  const listedFiles = listed.filter(isTaskFilePath);
  const custom = await Promise.all([...flags.taskFile, ...listedFiles].map(readTaskFile));
  if (listedFiles.length > 0) {
    const fileTasks = custom.slice(flags.taskFile.length).map((c) => c.task.name);
    flags.tasks = listed.map((name) => isTaskFilePath(name) ? fileTasks.shift()! : name).join(",");
  }
  const olmo: OlmoRequests[] = await Promise.all(flags.olmoRequests.map(readOlmoRequests));
  const selection = flags.tasks === undefined && custom.length === 0 && olmo.length > 0
    ? { tasks: [], groups: [] }
    : resolveTasks(flags.tasks, custom.map((c) => c.task));
  const tasks = selection.tasks.map((t) => t.task);
  // Custom tasks name their files; the few-shot split is looked for in --data's folders too.
  const dataValues = [...flags.data, ...custom.map((c) => `${c.task.name}=${c.data}`)];
  const fewshotValues = [
    ...(flags.fewshotData.length > 0 ? flags.fewshotData : await dataFolders(flags.data)),
    ...custom.flatMap((c) => (c.fewshotData ? [`${c.task.name}=${c.fewshotData}`] : [])),
  ];
  // Every file is read and every record checked before the model loads.
  const data: { task: AnyTask; records: SourcedRecord[]; fewshot?: FewshotOptions }[] = [];
  for (const { task: named, optional } of selection.tasks) {
    // gsm8k's default is its own 5 shots; the perplexity kinds take no examples.
    const generates = !isMultipleChoice(named) && named.kind === "generate_until";
    const numFewshot = flags.numFewshot ?? (generates ? named.defaultFewshot : 0);
    if (numFewshot > 0 && !isMultipleChoice(named) && !generates) {
      throw new UsageError(
        `--num-fewshot: ${named.name} (${named.kind}) takes no few-shot examples`,
      );
    }
    let records: SourcedRecord[];
    try {
      records = await readSplit(named, dataValues, tasks.length, named.split);
    } catch (error) {
      if (optional && error instanceof NoDataError) continue;
      throw error;
    }
    const task = flags.mutualInfo && isMultipleChoice(named)
      ? withMutualInfo(named, records[0], flags.quiet)
      : named;
    let fewshot: FewshotOptions | undefined;
    if (numFewshot > 0 && (!isMultipleChoice(task) || task.fixedFewshot === undefined)) {
      const pool = await readSplit(task, fewshotValues, tasks.length, task.fewshotSplit);
      if (pool.length < numFewshot) {
        throw new UsageError(
          `--num-fewshot ${numFewshot}: the few-shot data of ${task.name} has ${pool.length} documents`,
        );
      }
      fewshot = { count: numFewshot, records: pool };
    }
    data.push({ task, records, fewshot });
  }
  if (data.length === 0 && olmo.length === 0) {
    throw new UsageError(
      `no data for ${flags.tasks}: pass --data a folder of the dataset's files (for mmlu, cais/mmlu's <subject>/test-*.parquet or all/test-*.parquet, or <subject>/test/ saved by save_to_disk)`,
    );
  }
  const loaded = await loadModel(flags);
  const contextLength = flags.ctx ?? Math.min(loaded.model.config.maxPositions, 4096);
  // A document's choices are scored together, each in a copy of the context's KV cache.
  const branches = Math.min(EVAL_BRANCHES, maxSequences(loaded.model, contextLength) - 1);
  const session = new GemmaSession(loaded.model, { contextLength, branches });
  const maxLength = session.contextLength - 1;
  // Scores depend on the model, its precision and the context length; the key includes them.
  const cache = flags.cache
    ? await ScoreCache.open(
      flags.cache,
      JSON.stringify([
        loaded.source.path,
        flags.dtype ?? "",
        flags.quant ?? "",
        maxLength,
        // An adapter changes every score (left out without one: older caches stay valid).
        ...(flags.adapter !== undefined ? [flags.adapter, flags.adapterScale ?? 1] : []),
      ]),
    )
    : undefined;
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
        cache,
      };
      const result = isMultipleChoice(task)
        ? await runTask(session, loaded.tokenizer, task, records, options)
        : await runKindTask(session, loaded.tokenizer, task, records, {
          ...options,
          stopTokenIds: endTokenIds(loaded),
          maxGenToks: flags.maxGenToks,
          parallel: flags.batchSize ?? defaultParallel(loaded.model.gpu),
        });
      noteResult(result, flags, progress, maxLength);
      results.push(result);
    }
    for (const requests of olmo) {
      const result = await runOlmoRequests(session, loaded.tokenizer, requests, {
        limit: flags.limit,
        maxLength,
        onProgress: progress ? progressWithEta(requests.name) : undefined,
        cache,
      });
      noteResult(result, flags, progress, maxLength);
      results.push(result);
    }
  } finally {
    cache?.close();
    session.destroy();
    loaded.model.destroy();
  }
  const groups = aggregateGroups(
    selection.groups,
    results.filter((r): r is TaskResult => "docs" in r),
  );
  writeStdout(resultsTable(results, groups) + "\n");
  if (flags.output) {
    const json = resultsJson(results, {
      model: loaded.source.known?.name ?? loaded.source.path,
      limit: flags.limit,
      maxLength,
      totalSeconds: (performance.now() - start) / 1000,
    }, groups);
    await writeAtomically(flags.output, JSON.stringify(json, null, 2) + "\n");
  }
  if (flags.logSamples) {
    await writeAtomically(flags.logSamples, sampleLines(results).map((l) => l + "\n").join(""));
  }
}

function noteResult(
  result: AnyTaskResult,
  flags: EvalFlags,
  progress: boolean,
  maxLength: number,
): void {
  if (progress) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[K"));
  if (flags.quiet) return;
  const rate = result.requests / result.seconds;
  const cut = result.truncatedRequests
    ? `, ${result.truncatedRequests} truncated to ${maxLength} tokens`
    : "";
  const cached = "cachedRequests" in result && result.cachedRequests
    ? `, ${result.cachedRequests} from the cache`
    : "";
  const documents = "docs" in result ? result.docs.length : result.evaluated;
  const prefill = "prefill" in result && result.prefill.reused > 0
    ? `; ${result.prefill.prefilled} tokens prefilled, ${result.prefill.reused} kept from shared beginnings`
    : "";
  console.error(
    `note: ${result.task.name}: ${documents} documents, ${result.requests} requests in ${
      result.seconds.toFixed(1)
    } s (${rate >= 1 ? rate.toFixed(1) : rate.toPrecision(2)} requests/s${cut}${cached})${prefill}`,
  );
}

/** What ends a generated answer, as HF's generate and lm-eval's until list: the end tokens. */
function endTokenIds(loaded: LoadedModel): number[] {
  const ids = new Set([...loaded.model.config.eosTokenIds, loaded.tokenizer.eosId]);
  for (const id of loaded.checkpoint.generation.eosTokenIds ?? []) ids.add(id);
  return [...ids];
}

/**
 * The task with lm-eval's acc_mutual_info added, where lm-eval computes it: not for a task with
 * its own metric (truthfulqa_mc2) nor where the choices are contexts (winogrande's multiple input).
 */
function withMutualInfo(
  task: MultipleChoiceTask,
  first: SourcedRecord,
  quiet: boolean | undefined,
): MultipleChoiceTask {
  if (task.metrics.includes("acc_mutual_info")) return task;
  if (task.scoreDoc || task.doc(first).continuation !== undefined) {
    if (!quiet) console.error(`note: ${task.name}: no acc_mutual_info (lm-eval computes none)`);
    return task;
  }
  return { ...task, metrics: [...task.metrics, "acc_mutual_info"] };
}

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
