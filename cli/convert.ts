// `gemma convert`: a checkpoint (Hugging Face folder or GGUF) → a GGUF file llama.cpp can load.

import { Command } from "commander";
import { openCheckpoint, readPeftAdapter } from "../core/mod.ts";
import { convertToGguf, type GgufOutputType } from "../core/convert.ts";
import { parseNumber, UsageError } from "./common.ts";

const TYPES = ["f32", "f16", "bf16", "q8_0", "q4_0"];

interface ConvertFlags {
  output: string;
  type: string;
  name?: string;
  quiet?: boolean;
  adapter?: string;
  adapterScale?: number;
}

export function convertCommand(): Command {
  return new Command("convert")
    .description("convert a checkpoint to GGUF (for llama.cpp, ollama, LM Studio)")
    .argument("<model>", "a Hugging Face model folder (or a .gguf file)")
    .requiredOption("-o, --output <file>", "the .gguf file to write")
    .option("-t, --type <type>", `type of the weight matrices: ${TYPES.join(", ")}`, "f16")
    .option("--name <name>", "general.name in the file's metadata")
    .option("--adapter <dir>", "merge this LoRA adapter (a PEFT folder) into the weights")
    .option(
      "--adapter-scale <s>",
      "scale of the merged adapter (default 1)",
      parseNumber("--adapter-scale"),
    )
    .option("-q, --quiet", "print nothing on success")
    .action(async (model: string, flags: ConvertFlags) => {
      if (!TYPES.includes(flags.type)) {
        throw new UsageError(`--type must be one of ${TYPES.join(", ")}, got "${flags.type}"`);
      }
      const checkpoint = await openCheckpoint(model);
      const start = performance.now();
      const adapter = flags.adapter === undefined ? undefined : {
        tensors: await readPeftAdapter(flags.adapter, checkpoint.config),
        scale: flags.adapterScale,
      };
      await convertToGguf(checkpoint, flags.output, {
        type: flags.type as GgufOutputType,
        name: flags.name,
        adapter,
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
