// `gemma generate`: one prompt (argument, `-` for stdin, or --prompt-file) or, with --jsonl, one
// prompt per input line. Streams text to stdout, or prints JSON.

import { Command } from "commander";
import {
  type ChatMessage,
  GemmaSession,
  type GemmaTokenizer,
  generate,
  type GenerateResult,
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
}

/** Adds the model, context and sampling flags shared by `generate` and `chat`. */
export function addGenerationOptions(command: Command): Command {
  return command
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
}

export function generateCommand(): Command {
  const command = new Command("generate")
    .description("generate text from a prompt")
    .argument("[prompt]", "the prompt, or - to read it from stdin")
    .option("-f, --prompt-file <path>", "read the prompt from a file")
    .option("--chat", "apply the model's chat template (for instruction-tuned models)")
    .option("--json", "print one JSON object instead of streaming text")
    .option("--jsonl", "read one prompt per input line, write one JSON object per line")
    .option("--truncate", "drop the start of a prompt that does not fit in the context")
    .option("-v, --verbose", "print timings on stderr");
  addGenerationOptions(command);
  addGuardOptions(command);
  return command.action(async (prompt: string | undefined, flags: GenerateFlags) => {
    const prompts = await readPrompts(prompt, flags);
    const loaded = await loadModel(flags);
    const guard = await setupGuard(flags, loaded);
    const session = new GemmaSession(loaded.model, { contextLength: flags.ctx });
    const sampling = samplingFrom(flags, loaded.checkpoint);
    const maxTokens = flags.maxTokens ?? loaded.checkpoint.generation.maxNewTokens ?? 256;
    let blocked = 0;
    for (const text of prompts) {
      const ids = fitPrompt(
        promptIds(loaded.tokenizer, text, flags.chat ?? false, flags.system),
        session.contextLength,
        flags.truncate ?? false,
        maxTokens,
      );
      session.reset();
      const streaming = !flags.json && !flags.jsonl;
      if (guard) {
        const turn = await guardedTurn(guard, session, loaded.tokenizer, ids, text, {
          maxTokens,
          sampling,
          stopTokenIds: stopTokenIds(loaded),
          stopStrings: flags.stop,
          onText: streaming ? writeStdout : undefined,
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
        continue;
      }
      const result = await generate(session, loaded.tokenizer, ids, {
        maxTokens,
        sampling,
        stopTokenIds: stopTokenIds(loaded),
        stopStrings: flags.stop,
        onText: streaming ? writeStdout : undefined,
      });
      if (streaming) writeStdout("\n");
      else writeStdout(JSON.stringify(resultJson(result, loaded.loadMs)) + "\n");
      if (flags.verbose) printTimings(result, loaded.loadMs);
    }
    guard?.destroy();
    if (blocked > 0) throw new ExitStatus("", GUARD_EXIT_CODE);
  });
}

async function readPrompts(prompt: string | undefined, flags: GenerateFlags): Promise<string[]> {
  if (prompt !== undefined && flags.promptFile !== undefined) {
    throw new UsageError("give the prompt as an argument or with --prompt-file, not both");
  }
  let text: string;
  if (flags.promptFile !== undefined) text = await readPromptFile(flags.promptFile);
  else if (prompt === "-" || (prompt === undefined && flags.jsonl)) text = await readStdin();
  else if (prompt !== undefined) text = prompt;
  else throw new UsageError("no prompt: give one as an argument, - for stdin, or --prompt-file");
  if (!flags.jsonl) return [text];
  if (flags.json) throw new UsageError("--json and --jsonl do not go together");
  return text.split("\n").filter((line) => line.trim() !== "").map((line, i) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return line;
    }
    if (typeof value === "string") return value;
    if (
      typeof value === "object" && value &&
      typeof (value as { prompt?: unknown }).prompt === "string"
    ) {
      return (value as { prompt: string }).prompt;
    }
    throw new UsageError(`--jsonl line ${i + 1}: expected a string or an object with "prompt"`);
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
    `load ${loadMs.toFixed(0)} ms | prefill ${result.promptTokenIds.length} tokens in ${
      t.prefillMs.toFixed(0)
    } ms (${t.prefillTokensPerS.toFixed(1)} tok/s) | decode ${result.tokenIds.length} tokens in ${
      t.decodeMs.toFixed(0)
    } ms (${t.decodeTokensPerS.toFixed(1)} tok/s) | finish: ${result.finishReason}`,
  );
}
