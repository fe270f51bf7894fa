// Fine-tuning data in mlx-lm's layout: a folder with train.jsonl and optional valid.jsonl and
// test.jsonl, one example per line, in one of three formats found from the first line:
//   {"text": "..."}                               the whole text is trained on
//   {"prompt": "...", "completion": "..."}         rendered as a user turn and a model turn
//   {"messages": [{"role": ..., "content": ...}]}  rendered with the checkpoint's chat template
// Each becomes token ids (with <bos>; a plain text also ends with <eos>) and a loss mask: with
// `maskPrompt`, only the completion / the last model turn counts. Sequences longer than
// `maxSeqLength` are cut (and counted). Batches group sequences of similar length, in an order
// shuffled by the seed.

import { type ChatMessage, renderChat } from "../chat_template.ts";
import type { GemmaTokenizer } from "../tokenizer.ts";
import { mulberry32 } from "../lora.ts";
import type { TrainExample } from "./trainer.ts";

export class DataError extends Error {
  override name = "DataError";
}

export type DataFormat = "text" | "completions" | "chat";

interface RawExample {
  /** Text before the part that is trained on under maskPrompt ("" for plain text). */
  prompt: string;
  /** The whole rendered text. */
  full: string;
  /** Add <eos> after the text (plain text only; the chat template ends turns itself). */
  eos: boolean;
}

export interface DataSplit {
  file: string;
  format: DataFormat;
  examples: TrainExample[];
  /** Sequences cut to maxSeqLength. */
  truncated: number;
}

export interface DataOptions {
  maskPrompt?: boolean;
  /** Longest sequence in tokens (default 2048, as mlx-lm). */
  maxSeqLength?: number;
  /** The model's vocabulary size: a token id at or above it is an error (a tokenizer that does
   * not match the model), caught here rather than trained on as garbage. */
  vocabSize?: number;
}

const ROLES = new Set(["system", "user", "assistant", "model"]);

function formatOf(line: Record<string, unknown>, where: string): DataFormat {
  if ("messages" in line) return "chat";
  if ("prompt" in line || "completion" in line) return "completions";
  if ("text" in line) return "text";
  throw new DataError(
    `${where}: expected a "text", "prompt"/"completion" or "messages" field, got ${
      JSON.stringify(Object.keys(line))
    }`,
  );
}

function stringField(line: Record<string, unknown>, field: string, where: string): string {
  const value = line[field];
  if (typeof value !== "string") {
    throw new DataError(`${where}: field "${field}" must be a string`);
  }
  return value;
}

function render(messages: ChatMessage[], tokenizer: GemmaTokenizer, generationPrompt: boolean) {
  return renderChat(messages, {
    template: tokenizer.chatTemplate,
    bosToken: tokenizer.bosToken,
    eosToken: tokenizer.eosToken,
    addGenerationPrompt: generationPrompt,
  });
}

function rawExample(
  line: Record<string, unknown>,
  format: DataFormat,
  tokenizer: GemmaTokenizer,
  where: string,
): RawExample {
  if (format === "text") return { prompt: "", full: stringField(line, "text", where), eos: true };
  let messages: ChatMessage[];
  if (format === "completions") {
    messages = [
      { role: "user", content: stringField(line, "prompt", where) },
      { role: "assistant", content: stringField(line, "completion", where) },
    ];
  } else {
    const list = line.messages;
    if (!Array.isArray(list) || list.length === 0) {
      throw new DataError(`${where}: field "messages" must be a non-empty list`);
    }
    messages = list.map((m, i) => {
      if (!m || typeof m !== "object" || !ROLES.has((m as ChatMessage).role)) {
        throw new DataError(`${where}: messages[${i}] needs a role (system, user, assistant)`);
      }
      if (typeof (m as ChatMessage).content !== "string") {
        throw new DataError(`${where}: messages[${i}].content must be a string`);
      }
      return { role: (m as ChatMessage).role, content: (m as ChatMessage).content };
    });
    const last = messages[messages.length - 1].role;
    if (last !== "assistant" && last !== "model") {
      throw new DataError(`${where}: the last message must be the model's (role "assistant")`);
    }
  }
  try {
    return {
      prompt: render(messages.slice(0, -1), tokenizer, true),
      full: render(messages, tokenizer, false),
      eos: false,
    };
  } catch (error) {
    throw new DataError(`${where}: ${(error as Error).message}`);
  }
}

/** Parses and tokenizes one jsonl file's text (`file` names it in errors). */
export function parseJsonl(
  file: string,
  text: string,
  tokenizer: GemmaTokenizer,
  options: DataOptions = {},
): DataSplit {
  const maxLength = options.maxSeqLength ?? 2048;
  const examples: TrainExample[] = [];
  let format: DataFormat | undefined;
  let truncated = 0;
  const lines = text.split("\n");
  for (const [index, source] of lines.entries()) {
    if (source.trim() === "") continue;
    const where = `${file}:${index + 1}`;
    let line: unknown;
    try {
      line = JSON.parse(source);
    } catch (error) {
      throw new DataError(`${where}: not JSON (${(error as Error).message})`);
    }
    if (!line || typeof line !== "object" || Array.isArray(line)) {
      throw new DataError(`${where}: expected a JSON object`);
    }
    const record = line as Record<string, unknown>;
    const lineFormat = formatOf(record, where);
    format ??= lineFormat;
    if (lineFormat !== format) {
      throw new DataError(`${where}: a ${lineFormat} line in a ${format} file`);
    }
    const raw = rawExample(record, format, tokenizer, where);
    let ids = tokenizer.encode(raw.full);
    if (raw.eos) ids.push(tokenizer.eosId);
    const outside = options.vocabSize === undefined
      ? undefined
      : ids.find((id) => id >= options.vocabSize!);
    if (outside !== undefined) {
      throw new DataError(
        `${where}: token id ${outside} is outside the model's vocabulary of ${options.vocabSize} (does the tokenizer match the model?)`,
      );
    }
    const promptTokens = options.maskPrompt && raw.prompt ? tokenizer.encode(raw.prompt).length : 1;
    if (ids.length > maxLength) {
      ids = ids.slice(0, maxLength);
      truncated++;
    }
    if (ids.length < 2) throw new DataError(`${where}: fewer than 2 tokens`);
    const lossMask = ids.map((_, i) => i >= promptTokens);
    if (!lossMask.some((m) => m)) {
      throw new DataError(
        `${where}: nothing to train on (the prompt fills all ${ids.length} tokens under --mask-prompt)`,
      );
    }
    examples.push({ ids, lossMask: options.maskPrompt ? lossMask : undefined });
  }
  if (examples.length === 0) throw new DataError(`${file}: no examples`);
  return { file, format: format!, examples, truncated };
}

export interface Dataset {
  train: DataSplit;
  valid?: DataSplit;
  test?: DataSplit;
}

/** Reads DIR/train.jsonl (required), valid.jsonl and test.jsonl (optional). */
export async function loadDataset(
  dir: string,
  tokenizer: GemmaTokenizer,
  options: DataOptions = {},
): Promise<Dataset> {
  const read = async (name: string, required: boolean): Promise<DataSplit | undefined> => {
    const path = `${dir}/${name}`;
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && !required) return undefined;
      if (error instanceof Deno.errors.NotFound) {
        throw new DataError(`${path}: not found (--data needs a folder with train.jsonl)`);
      }
      throw new DataError(`${path}: ${(error as Error).message}`);
    }
    return parseJsonl(path, text, tokenizer, options);
  };
  return {
    train: (await read("train.jsonl", true))!,
    valid: await read("valid.jsonl", false),
    test: await read("test.jsonl", false),
  };
}

/**
 * An endless stream of batches: the examples sorted by length and cut into batches of
 * `batchSize` (neighbours in length share a batch), the batch order shuffled by the seed, anew
 * each pass.
 */
export function* batches(
  examples: TrainExample[],
  batchSize: number,
  seed: number,
): Generator<TrainExample[]> {
  if (examples.length === 0) throw new DataError("an empty training set");
  const order = [...examples.keys()].sort((a, b) =>
    examples[a].ids.length - examples[b].ids.length || a - b
  );
  const groups: TrainExample[][] = [];
  for (let i = 0; i < order.length; i += batchSize) {
    groups.push(order.slice(i, i + batchSize).map((j) => examples[j]));
  }
  const random = mulberry32(seed);
  for (;;) {
    const shuffled = [...groups];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    yield* shuffled;
  }
}
