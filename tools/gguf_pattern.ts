// A GGUF with the same header, tensor types and shapes as another, whose large tensors repeat
// one chunk of real blocks per type instead of holding their own values. It times like the
// original on any engine (same bytes to read, valid blocks, no NaNs from random scales) but
// compresses to a few MiB, so that a benchmark model can travel where the original cannot (the
// device machine takes 64 MiB per call). Its outputs are meaningless: never use it for accuracy.
//
//   deno run -A tools/gguf_pattern.ts <source.gguf> <out.gguf>

import { GGUF_TENSOR_TYPES, readGguf } from "../core/gguf.ts";

/** The repeated chunk of each tensor type. */
const CHUNK_BYTES = 64 * 1024;
/** Tensors at most this large (norms, mostly) are copied whole. */
const COPIED_BYTES = 16 * 1024;

if (Deno.args.length !== 2) {
  console.error("usage: deno run -A tools/gguf_pattern.ts <source.gguf> <out.gguf>");
  Deno.exit(1);
}
const [sourcePath, outPath] = Deno.args;
const gguf = await readGguf(sourcePath);
const tensors = gguf.tensors.slice().sort((a, b) => a.offset - b.offset);
using source = await Deno.open(sourcePath);

async function readAt(offset: number, length: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(length);
  await source.seek(offset, Deno.SeekMode.Start);
  for (let done = 0; done < length;) {
    const n = await source.read(bytes.subarray(done));
    if (n === null) throw new Error(`${sourcePath} ends before byte ${offset + length}`);
    done += n;
  }
  return bytes;
}

const chunks = new Map<string, Uint8Array>();
const tmpPath = `${outPath}.partial`;
{
  using out = await Deno.open(tmpPath, { write: true, create: true, truncate: true });
  let written = 0;
  const write = async (bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length;) done += await out.write(bytes.subarray(done));
    written += bytes.length;
  };
  await write(await readAt(0, tensors[0].offset)); // header, metadata, tensor infos, padding
  for (const tensor of tensors) {
    await write(new Uint8Array(tensor.offset - written)); // alignment padding
    if (tensor.byteLength <= COPIED_BYTES) {
      await write(await readAt(tensor.offset, tensor.byteLength));
      continue;
    }
    let chunk = chunks.get(tensor.type);
    if (!chunk) {
      const blockBytes = GGUF_TENSOR_TYPES[tensor.type][2];
      chunk = await readAt(tensor.offset, CHUNK_BYTES - (CHUNK_BYTES % blockBytes));
      chunks.set(tensor.type, chunk);
    }
    for (let left = tensor.byteLength; left > 0; left -= chunk.length) {
      await write(left >= chunk.length ? chunk : chunk.subarray(0, left));
    }
  }
}
await Deno.rename(tmpPath, outPath);
console.log(`${outPath}: ${tensors.length} tensors, ${[...chunks.keys()].join(", ")} repeated`);
