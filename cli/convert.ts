// `gemma convert`: a checkpoint (Hugging Face folder or GGUF) → a GGUF file llama.cpp can load.

import { Command } from "commander";
import { openCheckpoint } from "../core/mod.ts";
import { convertToGguf, type GgufOutputType } from "../core/convert.ts";
import { UsageError } from "./common.ts";

const TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0"];

interface ConvertFlags {
  output: string;
  type: string;
  name?: string;
  quiet?: boolean;
}

export function convertCommand(): Command {
  return new Command("convert")
    .description("convert a checkpoint to GGUF (for llama.cpp, ollama, LM Studio)")
    .argument("<model>", "a Hugging Face model folder (or a .gguf file)")
    .requiredOption("-o, --output <file>", "the .gguf file to write")
    .option("-t, --type <type>", `type of the weight matrices: ${TYPES.join(", ")}`, "f16")
    .option("--name <name>", "general.name in the file's metadata")
    .option("-q, --quiet", "print nothing on success")
    .action(async (model: string, flags: ConvertFlags) => {
      if (!TYPES.includes(flags.type)) {
        throw new UsageError(`--type must be one of ${TYPES.join(", ")}, got "${flags.type}"`);
      }
      const checkpoint = await openCheckpoint(model);
      const start = performance.now();
      await convertToGguf(checkpoint, flags.output, {
        type: flags.type as GgufOutputType,
        name: flags.name,
      });
      if (!flags.quiet) {
        const bytes = (await Deno.stat(flags.output)).size;
        console.error(
          `wrote ${flags.output} (${(bytes / 2 ** 20).toFixed(1)} MiB, ${flags.type}) in ${
            ((performance.now() - start) / 1000).toFixed(1)
          } s`,
        );
      }
    });
}
