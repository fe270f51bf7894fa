// The model cache: where fetched models live ($GEMMA_MODELS, else $XDG_CACHE_HOME/gemma/models,
// else ~/.cache/gemma/models: outside any checkout, so fresh clones and CI reuse it), and whether
// a cached file is still the one that was pinned.
//
// A file is trusted only after its sha256 matched. Hashing 250 MB on every start would cost ~0.5 s,
// so a verified file gets a stamp beside it (`<file>.verified`: its size, mtime and sha256); a
// file whose size or mtime differs from its stamp is hashed again, and one whose hash no longer
// matches is deleted, never loaded.

import { createHash } from "node:crypto";
import type { KnownModel } from "./known_models.ts";

export function modelCacheDir(): string {
  const explicit = Deno.env.get("GEMMA_MODELS");
  if (explicit) return explicit;
  const base = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "."}/.cache`;
  return `${base}/gemma/models`;
}

export type CacheState =
  | { status: "ok"; path: string }
  | { status: "missing"; path: string }
  | { status: "damaged"; path: string; reason: string };

interface Stamp {
  sha256: string;
  bytes: number;
  mtimeMs: number;
}

/** Checks `model`'s file in `dir`; a damaged file (and its stamp) is removed. */
export async function checkCachedModel(
  model: KnownModel,
  dir = modelCacheDir(),
  onProgress?: (done: number, total: number) => void,
): Promise<CacheState> {
  const path = `${dir}/${model.file}`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { status: "missing", path };
    throw error;
  }
  const stamp = await readStamp(path);
  const mtimeMs = info.mtime?.getTime() ?? 0;
  // A stamp is written only after the hash matched, so the pinned size is implied.
  if (stamp?.sha256 === model.sha256 && stamp.bytes === info.size && stamp.mtimeMs === mtimeMs) {
    return { status: "ok", path };
  }
  let reason: string | undefined;
  if (info.size !== model.bytes) {
    reason = `${info.size} bytes, expected ${model.bytes}`;
  } else {
    const sha256 = await sha256File(path, onProgress);
    if (sha256 !== model.sha256) reason = `sha256 ${sha256}, expected ${model.sha256}`;
  }
  if (reason) {
    await removeIfPresent(path);
    await removeIfPresent(stampPath(path));
    return { status: "damaged", path, reason };
  }
  await writeStamp(path, { sha256: model.sha256, bytes: info.size, mtimeMs });
  return { status: "ok", path };
}

/** Records that the file at `path` has `sha256` (after a pull or a successful check). */
export async function writeStamp(path: string, stamp: Stamp): Promise<void> {
  const temporary = `${stampPath(path)}.partial-${Deno.pid}`;
  await Deno.writeTextFile(temporary, JSON.stringify(stamp) + "\n");
  await Deno.rename(temporary, stampPath(path));
}

async function readStamp(path: string): Promise<Stamp | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(stampPath(path)));
  } catch {
    return undefined;
  }
}

function stampPath(path: string): string {
  return `${path}.verified`;
}

/** The sha256 of a file, in hex, read in a stream. */
export async function sha256File(
  path: string,
  onProgress?: (done: number, total: number) => void,
): Promise<string> {
  const total = (await Deno.stat(path)).size;
  // Reading `readable` to its end closes the file.
  const file = await Deno.open(path);
  const hash = createHash("sha256");
  let done = 0;
  for await (const chunk of file.readable) {
    hash.update(chunk);
    done += chunk.length;
    onProgress?.(done, total);
  }
  return hash.digest("hex");
}

export async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}
