// `gemma chat`: an interactive multi-turn conversation. Each turn renders the whole conversation
// with the chat template and reuses the KV cache for the longest prefix of tokens it already
// holds, so earlier turns are not recomputed. /reset starts over; /exit or Ctrl-D ends.

import { Command } from "commander";
import { type ChatMessage, GemmaSession, generate } from "../core/mod.ts";
import { writeStdout } from "./common.ts";
import { loadModel } from "./model_source.ts";
import { addGuardOptions, guardedTurn, type GuardFlags, REFUSAL, setupGuard } from "./guard.ts";
import {
  addGenerationOptions,
  chatPromptIds,
  type GenerationFlags,
  printTimings,
  samplingFrom,
  stopTokenIds,
} from "./generate.ts";

interface ChatFlags extends GenerationFlags, GuardFlags {
  verbose?: boolean;
}

export function chatCommand(): Command {
  const command = new Command("chat")
    .description("chat with an instruction-tuned model (/reset, /exit, Ctrl-D)")
    .option("-v, --verbose", "print timings on stderr after each reply");
  addGenerationOptions(command);
  addGuardOptions(command);
  return command.action(async (flags: ChatFlags) => {
    const loaded = await loadModel(flags);
    const guard = await setupGuard(flags, loaded);
    const known = loaded.source.known;
    if (known && !known.instructionTuned && !flags.quiet) {
      console.error(
        `note: ${known.name} is a pretrained model, not instruction-tuned: it continues text rather than following instructions`,
      );
    }
    const { tokenizer } = loaded;
    const session = new GemmaSession(loaded.model, { contextLength: flags.ctx });
    const sampling = samplingFrom(flags, loaded.checkpoint);
    const interactive = Deno.stdin.isTerminal();
    let messages: ChatMessage[] = flags.system ? [{ role: "system", content: flags.system }] : [];

    if (interactive) {
      console.error("Chat with the model. /reset to start over, /exit or Ctrl-D to quit.");
    }
    for await (const line of readLines(interactive ? "> " : "")) {
      const input = line.trim();
      if (input === "/exit" || input === "/quit") break;
      if (input === "/reset") {
        messages = messages.filter((m) => m.role === "system");
        session.reset();
        continue;
      }
      if (input === "") continue;
      const turn = [...messages, { role: "user" as const, content: input }];
      const ids = chatPromptIds(tokenizer, turn);
      const maxTokens = flags.maxTokens ?? 1024;
      if (ids.length + 1 > session.contextLength) {
        console.error(
          `error: the conversation (${ids.length} tokens) no longer fits the context of ${session.contextLength}; /reset to start over`,
        );
        continue;
      }
      // The earlier turns stay in the session's cache: only the new ones are prefilled.
      const reuse = session.keepSharedPrefix(ids);
      const options = {
        maxTokens,
        sampling,
        stopTokenIds: stopTokenIds(loaded),
        stopStrings: flags.stop,
        onText: writeStdout,
      };
      let result;
      let reply: string;
      if (guard) {
        // A blocked prompt leaves the conversation as it was; a stopped reply keeps what was shown.
        const guarded = await guardedTurn(
          guard,
          session,
          tokenizer,
          ids.slice(reuse),
          input,
          options,
        );
        if (guarded.blocked) console.error(`guard: ${guarded.blocked}`);
        if (!guarded.result) {
          writeStdout(`${REFUSAL}\n`);
          continue;
        }
        result = guarded.result;
        reply = guarded.text;
        if (flags.verbose) {
          console.error(`guard ${(guarded.safety.guard_ms as number).toFixed(0)} ms`);
        }
      } else {
        result = await generate(session, tokenizer, ids.slice(reuse), options);
        reply = result.text;
      }
      writeStdout("\n");
      if (flags.verbose) printTimings(result, loaded.loadMs);
      messages = [...turn, { role: "assistant", content: reply }];
    }
    guard?.destroy();
  });
}

/** Lines of stdin, showing `prompt` on stderr before each. */
async function* readLines(prompt: string): AsyncGenerator<string> {
  const encoder = new TextEncoder();
  const show = () => prompt && Deno.stderr.writeSync(encoder.encode(prompt));
  show();
  let pending = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      show();
    }
  }
  if (pending) yield pending;
}
