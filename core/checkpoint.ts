// Opening a checkpoint: find the model folder, parse config.json, index every tensor in the
// safetensors file(s) and check that the checkpoint has exactly the shapes the config implies.
// No weights are read here: callers stream each tensor with readTensorRows (GPU loader) or
// readTensor (CPU reference), so opening a 5 GB model costs a few header reads.
//
// Accepted layouts:
//   <dir>/config.json + model.safetensors                       (a Hugging Face model folder)
//   <dir>/config.json + model.safetensors.index.json + shards   (weight_map: tensor → shard file)
//   models--org--name/ with refs/main + snapshots/<rev>/        (the Hugging Face hub cache)
//   models--org--name/snapshots/<rev>/                          (one snapshot of it)

import { ConfigError, type GemmaConfig, parseConfig } from "./config.ts";
import { expectedTensorShapes } from "./tensor_names.ts";
import {
  CheckpointError,
  checkSupportedDType,
  readSafetensorsHeader,
  type TensorInfo,
} from "./safetensors.ts";

export interface Checkpoint {
  /** The resolved model folder (a snapshot folder for a hub cache). */
  dir: string;
  config: GemmaConfig;
  /**
   * Every tensor of the language model, by canonical name (a Gemma 3 multimodal checkpoint's
   * `language_model.` prefix removed; extras such as lm_head.weight included).
   */
  tensors: Map<string, TensorInfo>;
  /** Names of tensors that are not part of the language model (a vision tower): not loaded. */
  skipped: string[];
  generation: GenerationDefaults;
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

/** Opens a model folder (see the layouts above) and validates config and tensor shapes. */
export async function openCheckpoint(path: string): Promise<Checkpoint> {
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
  const { tensors, skipped } = languageModelTensors(await indexTensors(path, dir), json);
  for (const [name, shape] of expectedTensorShapes(config)) {
    const info = tensors.get(name);
    if (!info) throw new CheckpointError(`Cannot load "${dir}": missing tensor "${name}"`);
    if (info.shape.length !== shape.length || info.shape.some((n, i) => n !== shape[i])) {
      throw new CheckpointError(
        `Cannot load "${info.path}": tensor "${name}" has shape [${info.shape.join(",")}], ` +
          `expected [${shape.join(",")}]`,
      );
    }
    checkSupportedDType(info);
  }
  const generation = await readGenerationDefaults(`${dir}/generation_config.json`);
  return { dir, config, tensors, skipped, generation };
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
