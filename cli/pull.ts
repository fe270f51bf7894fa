// `gemma pull [NAME]`: fetches a known model into the cache (Gemma 3 270M by default) and prints
// its path; `--list` shows the known models and whether each is cached.

import { Command } from "commander";
import {
  checkCachedModel,
  DEFAULT_MODEL_NAME,
  findKnownModel,
  KNOWN_MODELS,
  modelCacheDir,
} from "../core/mod.ts";
import { UsageError } from "./common.ts";
import { fetchKnownModel } from "./model_source.ts";

interface PullFlags {
  force?: boolean;
  list?: boolean;
  quiet?: boolean;
}

export function pullCommand(): Command {
  return new Command("pull")
    .description(`fetch a model into ${modelCacheDir()} (default: ${DEFAULT_MODEL_NAME})`)
    .argument("[name]", `a known model: ${KNOWN_MODELS.map((m) => m.name).join(", ")}`)
    .option("--force", "fetch again even if the cached copy is good")
    .option("--list", "list the known models and where they are cached")
    .option("-q, --quiet", "no notices or progress on stderr")
    .action(async (name: string | undefined, flags: PullFlags) => {
      if (flags.list) {
        for (const model of KNOWN_MODELS) {
          const state = await checkCachedModel(model);
          const where = state.status === "ok" ? state.path : "not cached";
          console.log(`${model.name}\t${(model.bytes / 1e6).toFixed(0)} MB\t${where}`);
        }
        return;
      }
      const model = findKnownModel(name ?? DEFAULT_MODEL_NAME);
      if (!model) {
        const names = KNOWN_MODELS.map((m) => m.name).join(", ");
        throw new UsageError(`unknown model "${name}" (known: ${names})`);
      }
      console.log(await fetchKnownModel(model, flags));
    });
}
