// `gemma`: parse the command line, run one subcommand, turn any error into one line on stderr and
// an exit code (0 ok, 1 bad usage or input, 2 runtime or GPU failure, 3 blocked by --guard).

import { Command, CommanderError } from "commander";
import { chatCommand } from "./chat.ts";
import { convertCommand } from "./convert.ts";
import { errorMessage, exitCodeFor, ExitStatus } from "./common.ts";
import { evalCommand } from "./eval.ts";
import { finetuneLoraCommand } from "./finetune_lora.ts";
import { generateCommand } from "./generate.ts";
import { infoCommand } from "./info.ts";
import { pullCommand } from "./pull.ts";
import { safetyCommand } from "./safety.ts";

export async function main(args: string[]): Promise<number> {
  const program = new Command("gemma")
    .description("Run Google's Gemma models on WebGPU")
    .exitOverride()
    .configureOutput({ writeErr: () => {} })
    .addCommand(generateCommand())
    .addCommand(chatCommand())
    .addCommand(infoCommand())
    .addCommand(convertCommand())
    .addCommand(pullCommand())
    .addCommand(evalCommand())
    .addCommand(safetyCommand())
    .addCommand(finetuneLoraCommand());
  for (const command of program.commands) {
    command.exitOverride().configureOutput({ writeErr: () => {} });
  }
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof ExitStatus) {
      if (error.message) console.error(error.message);
      return error.code;
    }
    if (error instanceof CommanderError) {
      if (error.exitCode === 0) return 0; // --help, --version
      console.error(`error: ${error.message.replace(/^error: /, "")}`);
      return 1;
    }
    console.error(`error: ${errorMessage(error)}`);
    return exitCodeFor(error);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
