// Reading one member of a zip archive (a Python wheel is one): the end-of-central-directory
// record → the central directory entry of the member → its local header → the data, stored or
// deflated. Only what wheels need: no zip64, no encryption, no multi-disk archives.

export class ZipError extends Error {
  override name = "ZipError";
}

const END_OF_DIRECTORY = 0x06054b50;
const DIRECTORY_ENTRY = 0x02014b50;
const LOCAL_HEADER = 0x04034b50;

export interface ZipMember {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  compressedBytes: number;
  bytes: number;
  /** Offset of the member's local header in the archive. */
  headerOffset: number;
}

/** The members listed in the central directory of `archive`. */
export function zipMembers(archive: Uint8Array): ZipMember[] {
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  // The end record is 22 bytes plus a comment of up to 65535 bytes, at the very end.
  let end = -1;
  for (let at = archive.length - 22; at >= Math.max(0, archive.length - 22 - 65535); at--) {
    if (view.getUint32(at, true) === END_OF_DIRECTORY) {
      end = at;
      break;
    }
  }
  if (end < 0) throw new ZipError("not a zip archive (no end of central directory)");
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  if (count === 0xffff || at === 0xffffffff) throw new ZipError("zip64 archives are not supported");
  const members: ZipMember[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 46 > archive.length || view.getUint32(at, true) !== DIRECTORY_ENTRY) {
      throw new ZipError(`broken central directory (entry ${i})`);
    }
    const nameBytes = view.getUint16(at + 28, true);
    const extraBytes = view.getUint16(at + 30, true);
    const commentBytes = view.getUint16(at + 32, true);
    members.push({
      name: new TextDecoder().decode(archive.subarray(at + 46, at + 46 + nameBytes)),
      method: view.getUint16(at + 10, true),
      compressedBytes: view.getUint32(at + 20, true),
      bytes: view.getUint32(at + 24, true),
      headerOffset: view.getUint32(at + 42, true),
    });
    at += 46 + nameBytes + extraBytes + commentBytes;
  }
  return members;
}

/** The uncompressed bytes of member `name`, as a stream. */
export function zipMemberStream(
  archive: Uint8Array<ArrayBuffer>,
  name: string,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const member = zipMembers(archive).find((m) => m.name === name);
  if (!member) throw new ZipError(`no member "${name}"`);
  const view = new DataView(archive.buffer, archive.byteOffset, archive.byteLength);
  const at = member.headerOffset;
  if (at + 30 > archive.length || view.getUint32(at, true) !== LOCAL_HEADER) {
    throw new ZipError(`broken local header of "${name}"`);
  }
  // The local header repeats the name and has an extra field of its own length.
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const data = archive.subarray(start, start + member.compressedBytes);
  if (data.length !== member.compressedBytes) throw new ZipError(`"${name}" is truncated`);
  // Views of 1 MiB (no copies), so that inflating starts at once and flows at the reader's pace.
  const stored = new ReadableStream<Uint8Array<ArrayBuffer>>({
    start(controller) {
      for (let at = 0; at < data.length; at += 1 << 20) {
        controller.enqueue(data.subarray(at, at + (1 << 20)));
      }
      controller.close();
    },
  });
  if (member.method === 0) return stored;
  if (member.method === 8) return stored.pipeThrough(new DecompressionStream("deflate-raw"));
  throw new ZipError(`"${name}" uses compression method ${member.method}`);
}
