// Opening a checkpoint: find the model folder, parse config.json, index every tensor in the
// safetensors file(s) and check that the checkpoint has exactly the shapes the config implies.
// No weights are read here: callers stream each tensor with readTensorRows (GPU loader) or
// readTensor (CPU reference), so opening a 5 GB model costs a few header reads.
//
// Accepted layouts (and a .gguf file: core/gguf_checkpoint.ts):
//   <dir>/config.json + model.safetensors                       (a Hugging Face model folder)
//   <dir>/config.json + model.safetensors.index.json + shards   (weight_map: tensor → shard file)
//   models--org--name/ with refs/main + snapshots/<rev>/        (the Hugging Face hub cache)
//   models--org--name/snapshots/<rev>/                          (one snapshot of it)

import { ConfigError, type GemmaConfig, parseConfig } from "./config.ts";
import { expectedTensorShapes } from "./tensor_names.ts";
import type { QuantType } from "../kernels/quant.ts";
import { openGgufCheckpoint } from "./gguf_checkpoint.ts";
import type { GgufFile } from "./gguf.ts";
import { loadGgufTokenizer } from "./gguf_tokenizer.ts";
import { type GemmaTokenizer, loadTokenizer } from "./tokenizer.ts";
import {
  CheckpointError,
  checkSupportedDType,
  readSafetensorsHeader,
  readTensorRows,
  type TensorInfo,
} from "./safetensors.ts";

/**
 * One tensor of a checkpoint under its canonical (Hugging Face) name, with Hugging Face values
 * whatever the file format (a GGUF's norms, stored as 1 + w, are shifted back to w).
 */
export interface CheckpointTensor {
  name: string;
  /** PyTorch order: [out, in] for a projection. */
  shape: number[];
  /** Element type in the file: F32, F16, BF16, or a GGUF quant type (GGUF_QUANT_TYPES). */
  dtype: string;
  /** Bytes in the file. */
  byteLength: number;
  path: string;
  /** The values as f32, in pieces of whole rows (last dimension) of at most maxBytes. */
  rows(options?: { maxBytes?: number }): AsyncGenerator<{ rowStart: number; values: Float32Array }>;
  /** For a quantized GGUF tensor: its type, to keep it quantized (see rawRows). */
  quant?: QuantType;
  /**
   * The stored bytes of whole rows, where the loader can use them as they are: the blocks of a
   * quantized GGUF tensor, or the elements of an F16 one.
   */
  rawRows?(rowStart: number, rowCount: number): Promise<Uint8Array>;
}

/** All of a tensor's values as f32 (for small tensors and the CPU reference). */
export async function readWholeTensor(tensor: CheckpointTensor): Promise<Float32Array> {
  const rowLength = tensor.shape.length ? tensor.shape[tensor.shape.length - 1] : 1;
  const out = new Float32Array(tensor.shape.reduce((a, b) => a * b, 1));
  for await (const { rowStart, values } of tensor.rows()) out.set(values, rowStart * rowLength);
  return out;
}

export interface Checkpoint {
  /** The resolved model folder (a snapshot folder for a hub cache), or the GGUF file's folder. */
  dir: string;
  /** The folder, or the .gguf file. */
  path: string;
  format: "safetensors" | "gguf";
  config: GemmaConfig;
  /**
   * Every tensor of the language model, by canonical name (a Gemma 3 multimodal checkpoint's
   * `language_model.` prefix removed; extras such as lm_head.weight included).
   */
  tensors: Map<string, CheckpointTensor>;
  /** Names of tensors that are not part of the language model (a vision tower): not loaded. */
  skipped: string[];
  generation: GenerationDefaults;
  /** The parsed GGUF header, for a GGUF checkpoint (its tokenizer lives in the metadata). */
  gguf?: GgufFile;
}

/** The checkpoint's tokenizer: tokenizer.json beside a HF checkpoint, or a GGUF's metadata. */
export async function loadCheckpointTokenizer(checkpoint: Checkpoint): Promise<GemmaTokenizer> {
  return checkpoint.gguf ? loadGgufTokenizer(checkpoint.gguf) : await loadTokenizer(checkpoint.dir);
}

/** Sampling defaults from generation_config.json; every field optional. */
export interface GenerationDefaults {
  /** 0 means greedy (also what `"do_sample": false` maps to). */
  temperature?: number;
  topK?: number;
  topP?: number;
  maxNewTokens?: number;
  eosTokenIds?: number[];
}

/**
 * Opens a model folder (see the layouts above) or a .gguf file, and validates the config and
 * every tensor's shape.
 */
export async function openCheckpoint(path: string): Promise<Checkpoint> {
  if (path.toLowerCase().endsWith(".gguf")) return await openGgufCheckpoint(path);
  const dir = await resolveModelFolder(path);
  const configPath = `${dir}/config.json`;
  if (!(await exists(configPath))) {
    throw new CheckpointError(`Cannot open model "${path}": no config.json in "${dir}"`);
  }
  let config: GemmaConfig;
  const json = await readJson(configPath);
  try {
    config = parseConfig(json, configPath);
  } catch (e) {
    // parseConfig's messages already start with the file path; keep one error class for callers.
    if (e instanceof ConfigError) throw new CheckpointError(e.message, { cause: e });
    throw e;
  }
  const { tensors: infos, skipped } = languageModelTensors(await indexTensors(path, dir), json);
  const tensors = new Map<string, CheckpointTensor>();
  for (const [name, info] of infos) {
    tensors.set(name, {
      name,
      shape: info.shape,
      dtype: info.dtype,
      byteLength: info.byteLength,
      path: info.path,
      rows: (options) => readTensorRows(info, options),
    });
  }
  validateTensors(config, tensors, dir);
  for (const name of expectedTensorShapes(config).keys()) checkSupportedDType(infos.get(name)!);
  const generation = await readGenerationDefaults(`${dir}/generation_config.json`);
  return { dir, path: dir, format: "safetensors", config, tensors, skipped, generation };
}

/** Every tensor the config implies must be present with its shape. */
export function validateTensors(
  config: GemmaConfig,
  tensors: Map<string, CheckpointTensor>,
  where: string,
): void {
  for (const [name, shape] of expectedTensorShapes(config)) {
    const info = tensors.get(name);
    if (!info) throw new CheckpointError(`Cannot load "${where}": missing tensor "${name}"`);
    if (info.shape.length !== shape.length || info.shape.some((n, i) => n !== shape[i])) {
      throw new CheckpointError(
        `Cannot load "${info.path}": tensor "${name}" has shape [${info.shape.join(",")}], ` +
          `expected [${shape.join(",")}]`,
      );
    }
  }
}

/**
 * A Gemma 3 multimodal checkpoint ("gemma3") keeps the text model under `language_model.` and a
 * vision tower beside it: keep the former under canonical names, and list the rest as skipped.
 */
function languageModelTensors(
  all: Map<string, TensorInfo>,
  json: unknown,
): { tensors: Map<string, TensorInfo>; skipped: string[] } {
  if ((json as { model_type?: unknown }).model_type !== "gemma3") {
    return { tensors: all, skipped: [] };
  }
  const tensors = new Map<string, TensorInfo>();
  const skipped: string[] = [];
  for (const [name, info] of all) {
    // Older exports: language_model.model.layers…; newer ones: model.language_model.layers….
    const canonical = name.startsWith("language_model.")
      ? name.slice("language_model.".length)
      : name.startsWith("model.language_model.")
      ? "model." + name.slice("model.language_model.".length)
      : undefined;
    if (canonical) tensors.set(canonical, info);
    else skipped.push(name);
  }
  return { tensors, skipped };
}

/**
 * The folder holding config.json. A hub cache folder (`models--org--name`, recognised by its
 * `snapshots/` folder) resolves through `refs/main` to `snapshots/<rev>`, or to its only snapshot
 * when there is no refs/main (e.g. a cache copied without refs).
 */
async function resolveModelFolder(path: string): Promise<string> {
  const fail = (why: string): never => {
    throw new CheckpointError(`Cannot open model "${path}": ${why}`);
  };
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) fail("no such folder");
    throw e;
  }
  if (!stat!.isDirectory) fail("not a folder");
  const dir = path.replace(/\/+$/, "") || "/";
  if (await exists(`${dir}/config.json`) || !(await isDirectory(`${dir}/snapshots`))) return dir;

  const ref = `${dir}/refs/main`;
  if (await exists(ref)) {
    const rev = (await Deno.readTextFile(ref)).trim();
    const snapshot = `${dir}/snapshots/${rev}`;
    if (!rev || !(await isDirectory(snapshot))) {
      fail(`refs/main names revision "${rev}" but there is no folder snapshots/${rev}`);
    }
    return snapshot;
  }
  const revs: string[] = [];
  for await (const entry of Deno.readDir(`${dir}/snapshots`)) {
    if (entry.isDirectory || entry.isSymlink) revs.push(entry.name);
  }
  if (revs.length !== 1) {
    fail(
      revs.length === 0
        ? "hub cache folder has no snapshots"
        : `hub cache folder has ${revs.length} snapshots (${revs.sort().join(", ")}) and no ` +
          "refs/main; pass the snapshots/<rev> folder you want",
    );
  }
  return `${dir}/snapshots/${revs[0]}`;
}

/** Reads the header of every weight file once and maps tensor names to their TensorInfo. */
async function indexTensors(path: string, dir: string): Promise<Map<string, TensorInfo>> {
  const tensors = new Map<string, TensorInfo>();
  const indexPath = `${dir}/model.safetensors.index.json`;
  if (await exists(indexPath)) {
    const weightMap = ((await readJson(indexPath)) as Record<string, unknown> | null)?.weight_map;
    if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
      throw new CheckpointError(`Cannot load "${indexPath}": no "weight_map" object`);
    }
    // Group tensor names by shard so that each shard's header is read once.
    const byShard = new Map<string, string[]>();
    for (const [name, shard] of Object.entries(weightMap)) {
      if (typeof shard !== "string" || shard.includes("/") || shard.startsWith(".")) {
        throw new CheckpointError(
          `Cannot load "${indexPath}": tensor "${name}" maps to a bad file name ` +
            JSON.stringify(shard),
        );
      }
      byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
    }
    for (const [shard, names] of byShard) {
      const shardPath = `${dir}/${shard}`;
      if (!(await exists(shardPath))) {
        throw new CheckpointError(
          `Cannot load "${indexPath}": shard "${shard}" is missing (needed for "${names[0]}")`,
        );
      }
      const infos = new Map((await readSafetensorsHeader(shardPath)).map((t) => [t.name, t]));
      for (const name of names) {
        const info = infos.get(name);
        if (!info) {
          throw new CheckpointError(
            `Cannot load "${shardPath}": no tensor "${name}" (the index says it is here)`,
          );
        }
        tensors.set(name, info);
      }
    }
    return tensors;
  }
  const single = `${dir}/model.safetensors`;
  if (!(await exists(single))) {
    throw new CheckpointError(
      `Cannot open model "${path}": no weights (expected model.safetensors or ` +
        `model.safetensors.index.json in "${dir}")`,
    );
  }
  for (const info of await readSafetensorsHeader(single)) tensors.set(info.name, info);
  return tensors;
}

/** generation_config.json, if present. Fields we do not use are ignored; null counts as absent. */
async function readGenerationDefaults(path: string): Promise<GenerationDefaults> {
  if (!(await exists(path))) return {};
  const json = await readJson(path);
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new CheckpointError(`Cannot load "${path}": expected a JSON object`);
  }
  const c = json as Record<string, unknown>;
  const field = (key: string, ok: (v: number) => boolean): number | undefined => {
    const value = c[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "number" || !ok(value)) {
      throw new CheckpointError(`Cannot load "${path}": bad "${key}" ${JSON.stringify(value)}`);
    }
    return value;
  };
  const positiveInt = (v: number) => Number.isInteger(v) && v > 0;
  const out: GenerationDefaults = {};
  const set = <K extends keyof GenerationDefaults>(key: K, value: GenerationDefaults[K]) => {
    if (value !== undefined) out[key] = value;
  };
  set("temperature", field("temperature", (v) => v >= 0 && Number.isFinite(v)));
  set("topK", field("top_k", (v) => Number.isInteger(v) && v >= 0));
  set("topP", field("top_p", (v) => v > 0 && v <= 1));
  set("maxNewTokens", field("max_new_tokens", positiveInt));
  // Transformers samples only when do_sample is true; false (its default) means greedy decoding.
  if (c.do_sample === false) out.temperature = 0;
  const eos = c.eos_token_id;
  if (eos !== undefined && eos !== null) {
    const ids = Array.isArray(eos) ? eos : [eos];
    if (!ids.every((id) => Number.isInteger(id) && id >= 0)) {
      throw new CheckpointError(`Cannot load "${path}": bad "eos_token_id" ${JSON.stringify(eos)}`);
    }
    out.eosTokenIds = ids as number[];
  }
  return out;
}

async function readJson(path: string): Promise<unknown> {
  const text = await Deno.readTextFile(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`Cannot load "${path}": invalid JSON (${(e as Error).message})`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
