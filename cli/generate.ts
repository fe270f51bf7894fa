// `gemma generate`: one prompt (argument, `-` for stdin, or --prompt-file) or, with --jsonl, one
// prompt per input line, --parallel of them decoded together. Streams text to stdout, or prints
// JSON.

import { Command } from "commander";
import {
  type ChatMessage,
  defaultParallel,
  GemmaSession,
  type GemmaTokenizer,
  generate,
  generateMany,
  type GenerateResult,
  type GenerationRequest,
  maxSequences,
  renderChat,
  type SamplingOptions,
  validateSampling,
} from "../core/mod.ts";
import type { Checkpoint } from "../core/checkpoint.ts";
import {
  ExitStatus,
  parseInteger,
  parseNumber,
  readStdin,
  UsageError,
  writeStdout,
} from "./common.ts";
import { type LoadedModel, loadModel } from "./model_source.ts";
import {
  type ActiveGuard,
  addGuardOptions,
  GUARD_EXIT_CODE,
  guardedTurn,
  type GuardFlags,
  REFUSAL,
  setupGuard,
} from "./guard.ts";

export interface GenerationFlags {
  model?: string;
  dtype?: string;
  quant?: string;
  ctx?: number;
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  seed?: number;
  stop: string[];
  system?: string;
  quiet?: boolean;
  adapter?: string;
  adapterScale?: number;
}

/** Adds the model, context and sampling flags shared by `generate` and `chat`. */
export function addGenerationOptions(command: Command): Command {
  command
    .option(
      "-m, --model <path>",
      "a model name (gemma3:270m, the default), a Hugging Face folder or a .gguf file",
    )
    .option("--dtype <type>", "weight precision on the GPU: f16 or f32 (default f16 if supported)")
    .option("--quant <type>", "quantize float weights on load: q8_0 or q4_0")
    .option("--ctx <n>", "context length (KV cache positions)", parseInteger("--ctx", 1))
    .option(
      "-n, --max-tokens <n>",
      "most tokens to generate (default 256)",
      parseInteger("--max-tokens"),
    )
    .option("--temperature <t>", "0 = greedy (default 0.8)", parseNumber("--temperature"))
    .option(
      "--top-k <k>",
      "keep the k most likely tokens, 0 = off (default 40)",
      parseInteger("--top-k"),
    )
    .option("--top-p <p>", "nucleus sampling, 1 = off (default 0.95)", parseNumber("--top-p"))
    .option(
      "--min-p <p>",
      "drop tokens below p × the best one's probability (default 0.05)",
      parseNumber("--min-p"),
    )
    .option(
      "--repeat-penalty <r>",
      "penalty for repeated tokens, 1 = off (default 1)",
      parseNumber("--repeat-penalty"),
    )
    .option("--seed <n>", "random seed (same seed, same output)", parseInteger("--seed"))
    .option("--stop <text>", "stop when this text appears (repeatable)", collect, [])
    .option("--system <text>", "system instructions (folded into the first user turn)")
    .option("-q, --quiet", "no notices or progress on stderr");
  addAdapterOptions(command);
  return command;
}

/** --adapter and --adapter-scale (generate, chat, eval). */
export function addAdapterOptions(command: Command): Command {
  return command
    .option(
      "--adapter <dir>",
      "apply a LoRA adapter (a PEFT folder: adapter_config.json + adapter_model.safetensors)",
    )
    .option(
      "--adapter-scale <s>",
      "multiply the adapter's effect (default 1)",
      parseNumber("--adapter-scale"),
    );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Sampling options: flags first, then the checkpoint's generation_config.json, then defaults. */
export function samplingFrom(flags: GenerationFlags, checkpoint: Checkpoint): SamplingOptions {
  const g = checkpoint.generation;
  const sampling: SamplingOptions = {
    temperature: flags.temperature ?? g.temperature ?? 0.8,
    topK: flags.topK ?? g.topK ?? 40,
    topP: flags.topP ?? g.topP ?? 0.95,
    minP: flags.minP ?? 0.05,
    repetitionPenalty: flags.repeatPenalty ?? 1,
    seed: flags.seed,
  };
  try {
    validateSampling(sampling);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return sampling;
}

/** Token ids that end a reply: the config's eos ids and, for chat models, `<end_of_turn>`. */
export function stopTokenIds(loaded: LoadedModel): number[] {
  const ids = new Set([...loaded.model.config.eosTokenIds, loaded.tokenizer.eosId]);
  for (const id of loaded.checkpoint.generation.eosTokenIds ?? []) ids.add(id);
  if (loaded.tokenizer.endOfTurnId !== undefined) ids.add(loaded.tokenizer.endOfTurnId);
  return [...ids];
}

/** Prompt text → ids: through the chat template with --chat, else plain with <bos>. */
export function promptIds(
  tokenizer: GemmaTokenizer,
  text: string,
  chat: boolean,
  system?: string,
): number[] {
  if (!chat) {
    if (system) throw new UsageError("--system needs --chat");
    return tokenizer.encode(text, { addBos: true });
  }
  const messages = system
    ? [{ role: "system" as const, content: system }, { role: "user" as const, content: text }]
    : [{ role: "user" as const, content: text }];
  return chatPromptIds(tokenizer, messages);
}

/** A conversation → ids through the checkpoint's chat template, ready for the model's reply. */
export function chatPromptIds(tokenizer: GemmaTokenizer, messages: ChatMessage[]): number[] {
  const rendered = renderChat(messages, {
    template: tokenizer.chatTemplate,
    bosToken: tokenizer.bosToken,
    eosToken: tokenizer.eosToken,
    addGenerationPrompt: true,
  });
  return tokenizer.encode(rendered, { addBos: false }); // the template emits <bos> itself
}

/**
 * Fits a prompt into the context: an error when it does not fit, or with --truncate its <bos> and
 * last tokens, leaving `room` positions for the reply.
 */
export function fitPrompt(
  ids: number[],
  context: number,
  truncate: boolean,
  room: number,
): number[] {
  if (ids.length <= context) return ids;
  if (!truncate) {
    throw new UsageError(
      `the prompt has ${ids.length} tokens but the context holds ${context}; use --ctx, or --truncate to keep its end`,
    );
  }
  const keep = Math.max(2, context - room);
  return [ids[0], ...ids.slice(ids.length - keep + 1)];
}

interface GenerateFlags extends GenerationFlags, GuardFlags {
  promptFile?: string;
  chat?: boolean;
  json?: boolean;
  jsonl?: boolean;
  truncate?: boolean;
  verbose?: boolean;
  parallel?: number;
}

/** A --jsonl input line: its prompt, or why it has none. */
type PromptLine = { text: string } | { error: string };

export function generateCommand(): Command {
  const command = new Command("generate")
    .description("generate text from a prompt")
    .argument("[prompt]", "the prompt, or - to read it from stdin")
    .option("-f, --prompt-file <path>", "read the prompt from a file")
    .option("--chat", "apply the model's chat template (for instruction-tuned models)")
    .option("--json", "print one JSON object instead of streaming text")
    .option("--jsonl", "read one prompt per input line, write one JSON object per line")
    .option("--truncate", "drop the start of a prompt that does not fit in the context")
    .option(
      "--parallel <n>",
      "with --jsonl: prompts decoded together (default 8 on a GPU, 4 on a software one)",
      parseInteger("--parallel", 1),
    )
    .option("-v, --verbose", "print timings on stderr");
  addGenerationOptions(command);
  addGuardOptions(command);
  return command.action(async (prompt: string | undefined, flags: GenerateFlags) => {
    if (flags.parallel !== undefined && !flags.jsonl) {
      throw new UsageError("--parallel goes with --jsonl (several prompts)");
    }
    if (flags.jsonl && flags.json) throw new UsageError("--json and --jsonl do not go together");
    const text = await readPromptText(prompt, flags);
    const lines = flags.jsonl ? promptLines(text) : [{ text }];
    const loaded = await loadModel(flags);
    const guard = await setupGuard(flags, loaded);
    try {
      if (flags.jsonl && !guard) await generateLines(lines, flags, loaded);
      else await generateEach(lines, flags, loaded, guard);
    } finally {
      guard?.destroy();
    }
  });
}

/**
 * One prompt at a time: a single prompt, or --jsonl under a guard (which checks each reply as it
 * streams). A blocked prompt or reply exits with GUARD_EXIT_CODE once all are answered.
 */
async function generateEach(
  lines: PromptLine[],
  flags: GenerateFlags,
  loaded: LoadedModel,
  guard: ActiveGuard | undefined,
): Promise<void> {
  const session = new GemmaSession(loaded.model, { contextLength: flags.ctx });
  const options = generateOptions(flags, loaded);
  const streaming = !flags.json && !flags.jsonl;
  let blocked = 0;
  let failed = 0;
  for (const [i, line] of lines.entries()) {
    let ids: number[];
    try {
      if ("error" in line) throw new UsageError(line.error);
      ids = fitPrompt(
        promptIds(loaded.tokenizer, line.text, flags.chat ?? false, flags.system),
        session.contextLength,
        flags.truncate ?? false,
        options.maxTokens,
      );
    } catch (error) {
      if (!flags.jsonl || !(error instanceof UsageError)) throw error;
      failed += 1;
      const message = "error" in line ? error.message : `line ${i + 1}: ${error.message}`;
      writeStdout(JSON.stringify({ error: message }) + "\n");
      continue;
    }
    session.reset();
    const onText = streaming ? writeStdout : undefined;
    if (!guard) {
      const result = await generate(session, loaded.tokenizer, ids, { ...options, onText });
      if (streaming) writeStdout("\n");
      else writeStdout(JSON.stringify(resultJson(result, loaded.loadMs)) + "\n");
      if (flags.verbose) printTimings(result, loaded.loadMs);
      continue;
    }
    const text = (line as { text: string }).text;
    const turn = await guardedTurn(guard, session, loaded.tokenizer, ids, text, {
      ...options,
      onText,
    });
    if (turn.blocked) {
      blocked += 1;
      console.error(`guard: ${turn.blocked}`);
    }
    if (streaming) writeStdout(turn.result ? "\n" : `${REFUSAL}\n`);
    else {
      // A blocked response is withheld from JSON, not cut short.
      const json = turn.result
        ? resultJson(turn.result, loaded.loadMs)
        : { text: "", prompt_token_ids: ids, token_ids: [], finish_reason: "guard" };
      json.text = turn.blocked ? "" : turn.text;
      if (turn.blocked) {
        json.finish_reason = "guard";
        json.token_ids = []; // they would spell out what was withheld
      }
      // The tokens would spell out the PII the text no longer shows.
      if (guard.guard.config.redactPii) delete json.token_ids;
      writeStdout(JSON.stringify({ ...json, safety: turn.safety }) + "\n");
    }
    if (flags.verbose) {
      if (turn.result) printTimings(turn.result, loaded.loadMs);
      console.error(`guard ${(turn.safety.guard_ms as number).toFixed(0)} ms`);
    }
  }
  session.destroy();
  if (blocked > 0) throw new ExitStatus("", GUARD_EXIT_CODE);
  if (failed > 0) {
    throw new UsageError(`${failed} of ${lines.length} prompt lines failed (see their "error")`);
  }
}

function generateOptions(flags: GenerateFlags, loaded: LoadedModel) {
  return {
    maxTokens: flags.maxTokens ?? loaded.checkpoint.generation.maxNewTokens ?? 256,
    sampling: samplingFrom(flags, loaded.checkpoint),
    stopTokenIds: stopTokenIds(loaded),
    stopStrings: flags.stop,
  };
}

/**
 * --jsonl: every prompt line answered by one JSON line, in input order, --parallel prompts
 * decoded together. A line that fails (not a prompt, too long for the context) is answered with
 * {"error": …} and the others go on; the exit status is then 1.
 */
async function generateLines(
  lines: PromptLine[],
  flags: GenerateFlags,
  loaded: LoadedModel,
): Promise<void> {
  const options = generateOptions(flags, loaded);
  const context = flags.ctx ?? Math.min(loaded.model.config.maxPositions, 4096);
  const answers: (string | undefined)[] = new Array(lines.length);
  const requests: GenerationRequest[] = [];
  const lineOf: number[] = [];
  lines.forEach((line, i) => {
    if ("error" in line) {
      answers[i] = JSON.stringify({ error: line.error });
      return;
    }
    try {
      const ids = fitPrompt(
        promptIds(loaded.tokenizer, line.text, flags.chat ?? false, flags.system),
        context,
        flags.truncate ?? false,
        options.maxTokens,
      );
      requests.push({ promptIds: ids, options });
      lineOf.push(i);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      answers[i] = JSON.stringify({ error: `line ${i + 1}: ${error.message}` });
    }
  });
  // Answers go out in input order, each as soon as every line before it is answered.
  let written = 0;
  const flush = () => {
    while (written < lines.length && answers[written] !== undefined) {
      writeStdout(answers[written++] + "\n");
    }
  };
  flush();
  const wanted = flags.parallel ?? defaultParallel(loaded.model.gpu);
  const fits = maxSequences(loaded.model, context);
  if (fits < Math.min(wanted, requests.length) && !flags.quiet) {
    console.error(
      `note: ${wanted} sequences of ${context} positions do not fit on this device; decoding ${fits} at a time`,
    );
  }
  await generateMany(loaded.model, loaded.tokenizer, requests, {
    parallel: Math.max(1, Math.min(wanted, fits)),
    contextLength: context,
    onResult: (index, result) => {
      answers[lineOf[index]] = JSON.stringify(resultJson(result, loaded.loadMs));
      if (flags.verbose) printTimings(result, loaded.loadMs);
      flush();
    },
  });
  const failed = lines.length - requests.length;
  if (failed > 0) {
    throw new UsageError(`${failed} of ${lines.length} prompt lines failed (see their "error")`);
  }
}

async function readPromptText(prompt: string | undefined, flags: GenerateFlags): Promise<string> {
  if (prompt !== undefined && flags.promptFile !== undefined) {
    throw new UsageError("give the prompt as an argument or with --prompt-file, not both");
  }
  if (flags.promptFile !== undefined) return await readPromptFile(flags.promptFile);
  if (prompt === "-" || (prompt === undefined && flags.jsonl)) return await readStdin();
  if (prompt !== undefined) return prompt;
  throw new UsageError("no prompt: give one as an argument, - for stdin, or --prompt-file");
}

/** --jsonl input: per non-empty line a JSON string, an object with "prompt", or plain text. */
function promptLines(text: string): PromptLine[] {
  return text.split("\n").filter((line) => line.trim() !== "").map((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return { text: line };
    }
    if (typeof value === "string") return { text: value };
    if (
      typeof value === "object" && value &&
      typeof (value as { prompt?: unknown }).prompt === "string"
    ) {
      return { text: (value as { prompt: string }).prompt };
    }
    return { error: `line ${i + 1}: expected a string or an object with "prompt"` };
  });
}

async function readPromptFile(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message;
    throw new UsageError(`Cannot read the prompt file "${path}": ${why}`);
  }
}

export function resultJson(result: GenerateResult, loadMs: number): Record<string, unknown> {
  const t = result.timings;
  return {
    text: result.text,
    prompt_token_ids: result.promptTokenIds,
    token_ids: result.tokenIds,
    finish_reason: result.finishReason,
    timings: {
      load_ms: round(loadMs),
      prefill_ms: round(t.prefillMs),
      cached_prompt_tokens: result.cachedPromptTokens,
      decode_ms: round(t.decodeMs),
      prefill_tokens_per_s: round(t.prefillTokensPerS),
      decode_tokens_per_s: round(t.decodeTokensPerS),
    },
  };
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}

export function printTimings(result: GenerateResult, loadMs: number): void {
  const t = result.timings;
  console.error(
    `load ${loadMs.toFixed(0)} ms | prefill ${result.promptTokenIds.length} tokens${
      result.cachedPromptTokens > 0 ? ` (${result.cachedPromptTokens} cached)` : ""
    } in ${t.prefillMs.toFixed(0)} ms (${
      t.prefillTokensPerS.toFixed(1)
    } tok/s) | decode ${result.tokenIds.length} tokens in ${t.decodeMs.toFixed(0)} ms (${
      t.decodeTokensPerS.toFixed(1)
    } tok/s) | finish: ${result.finishReason}`,
  );
}
