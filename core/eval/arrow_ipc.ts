// A reader of Arrow IPC data, as Hugging Face `datasets` writes it (`save_to_disk`'s
// data-*.arrow: the IPC *stream* format; the IPC *file* format, "ARROW1" + the same stream + a
// footer, reads too). A stream is a sequence of messages, each "0xFFFFFFFF, int32 metadata size,
// a FlatBuffers Message, its body" (older writers leave out the 0xFFFFFFFF), ended by a zero
// size: first the Schema, then RecordBatches whose bodies hold each column's buffers in
// depth-first field order, described by one FieldNode (length, null count) per array.
//
// The column types datasets' tables use are read: null, integers (8–64 bits, signed or not;
// 64-bit ones become numbers, as the Parquet reader's do), floats (16, 32, 64 bits), bool,
// utf8 / large_utf8, list / large_list / fixed_size_list and struct, each with a validity bitmap
// (a cleared bit is null). Anything else (dictionary-encoded or compressed data, binary,
// timestamps, decimals, views, ...) is an ArrowError naming the column.

import { FlatTable } from "./flatbuffer.ts";

export class ArrowError extends Error {
  override name = "ArrowError";
}

/** The columns (top-level field names) and rows of an Arrow stream, as plain JS values. */
export interface ArrowTable {
  columns: string[];
  rows: Record<string, unknown>[];
}

type ArrowType =
  | { kind: "null" }
  | { kind: "int"; bytes: 1 | 2 | 4 | 8; signed: boolean }
  | { kind: "float"; bytes: 2 | 4 | 8 }
  | { kind: "bool" }
  | { kind: "utf8"; large: boolean }
  | { kind: "list"; large: boolean }
  | { kind: "fixed_size_list"; size: number }
  | { kind: "struct" };

interface ArrowField {
  /** The column's path for messages ("choices.text"). */
  path: string;
  name: string;
  type: ArrowType;
  children: ArrowField[];
}

// Schema.fbs's Type union, for naming the types not read.
const TYPE_NAMES = [
  "NONE",
  "Null",
  "Int",
  "FloatingPoint",
  "Binary",
  "Utf8",
  "Bool",
  "Decimal",
  "Date",
  "Time",
  "Timestamp",
  "Interval",
  "List",
  "Struct",
  "Union",
  "FixedSizeBinary",
  "FixedSizeList",
  "Map",
  "Duration",
  "LargeBinary",
  "LargeUtf8",
  "LargeList",
  "RunEndEncoded",
  "BinaryView",
  "Utf8View",
  "ListView",
  "LargeListView",
];

// Message.fbs's MessageHeader union.
const SCHEMA = 1;
const DICTIONARY_BATCH = 2;
const RECORD_BATCH = 3;
const CONTINUATION = 0xffffffff;
const FILE_MAGIC = "ARROW1";

/** Node lengths past this are taken for corruption (eval data has far fewer rows). */
const MAX_LENGTH = 2 ** 28;

/** Reads every row of an Arrow IPC stream (or file). Throws ArrowError on anything it cannot read. */
export function readArrowIpc(bytes: Uint8Array): ArrowTable {
  try {
    return readStream(bytes);
  } catch (error) {
    if (error instanceof ArrowError) throw error;
    // Offsets pointing outside the data (RangeError from DataView), cycles, bad UTF-8 in names.
    throw new ArrowError(`malformed Arrow data (${(error as Error).message})`);
  }
}

function readStream(bytes: Uint8Array): ArrowTable {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = new TextDecoder().decode(bytes.subarray(0, 6)) === FILE_MAGIC ? 8 : 0;
  let fields: ArrowField[] | undefined;
  const rows: Record<string, unknown>[] = [];
  for (;;) {
    // Until the schema is read, anything unexpected means this is not Arrow at all.
    const notArrow = (why: string): never => {
      throw new ArrowError(fields ? why : `not an Arrow IPC stream (${why})`);
    };
    if (pos + 4 > bytes.length) notArrow("truncated: it ends before the end-of-stream marker");
    let size = view.getUint32(pos, true);
    pos += 4;
    if (size === CONTINUATION) {
      if (pos + 4 > bytes.length) notArrow("truncated: it ends inside a message header");
      size = view.getUint32(pos, true);
      pos += 4;
    }
    if (size === 0) break;
    if (pos + size > bytes.length) notArrow("truncated: it ends inside a message");
    let message: FlatTable;
    let header: FlatTable | undefined;
    let headerType: number;
    let bodyLength: number;
    try {
      message = FlatTable.root(bytes.subarray(pos, pos + size));
      headerType = message.uint8(1);
      header = message.table(2);
      bodyLength = message.int64(3);
    } catch {
      return notArrow("a message's metadata is malformed");
    }
    pos += size;
    if (bodyLength < 0 || pos + bodyLength > bytes.length) {
      notArrow("truncated: it ends inside a message body");
    }
    const body = bytes.subarray(pos, pos + bodyLength);
    pos += bodyLength;
    if (!header) notArrow("a message has no header");
    if (!fields) {
      if (headerType !== SCHEMA) notArrow("it does not begin with a schema");
      fields = readSchema(header!);
    } else if (headerType === RECORD_BATCH) {
      rows.push(...readRecordBatch(header!, body, fields));
    } else if (headerType === DICTIONARY_BATCH) {
      throw new ArrowError("dictionary batches are not read");
    } else if (headerType === SCHEMA) {
      throw new ArrowError("a second schema in one stream");
    } else {
      throw new ArrowError(`unexpected message type ${headerType}`);
    }
  }
  if (!fields) throw new ArrowError("not an Arrow IPC stream (it ends before a schema)");
  return { columns: fields.map((f) => f.name), rows };
}

function readSchema(schema: FlatTable): ArrowField[] {
  let tables: FlatTable[];
  try {
    if (schema.int16(0) !== 0) throw new ArrowError("big-endian Arrow data is not read");
    tables = schema.tables(1);
  } catch (error) {
    if (error instanceof ArrowError) throw error;
    throw new ArrowError("not an Arrow IPC stream (its schema is malformed)");
  }
  return tables.map((t) => readField(t, ""));
}

function readField(table: FlatTable, parent: string): ArrowField {
  let name: string;
  try {
    name = table.string(0) ?? "";
  } catch {
    throw new ArrowError("a field name is malformed");
  }
  const path = parent ? `${parent}.${name}` : name;
  const unread = (what: string): never => {
    throw new ArrowError(`column "${path}": ${what} is not read`);
  };
  if (table.table(4)) unread("a dictionary-encoded column");
  const typeId = table.uint8(2);
  const type = table.table(3);
  const children = table.tables(5).map((child) => readField(child, path));
  const field = (type: ArrowType): ArrowField => ({ path, name, type, children });
  switch (typeId) {
    case 1:
      return field({ kind: "null" });
    case 2: {
      const bits = type?.int32(0) ?? 0;
      if (![8, 16, 32, 64].includes(bits)) unread(`a ${bits}-bit integer`);
      return field({ kind: "int", bytes: (bits / 8) as 1 | 2 | 4 | 8, signed: type!.bool(1) });
    }
    case 3: {
      const precision = type?.int16(0) ?? 0; // HALF, SINGLE, DOUBLE
      return field({ kind: "float", bytes: ([2, 4, 8] as const)[precision] ?? 8 });
    }
    case 5:
    case 20:
      return field({ kind: "utf8", large: typeId === 20 });
    case 6:
      return field({ kind: "bool" });
    case 12:
    case 21:
      if (children.length !== 1) unread("a list without one child");
      return field({ kind: "list", large: typeId === 21 });
    case 16:
      if (children.length !== 1) unread("a list without one child");
      return field({ kind: "fixed_size_list", size: type?.int32(0) ?? 0 });
    case 13:
      return field({ kind: "struct" });
    default:
      return unread(`the Arrow type ${TYPE_NAMES[typeId] ?? typeId}`);
  }
}

/** The body's arrays, consumed in schema order: one FieldNode per array, its buffers after. */
class BatchBody {
  private node = 0;
  private buffer = 0;
  constructor(
    private readonly nodes: number[][],
    private readonly buffers: number[][],
    private readonly body: Uint8Array,
  ) {}

  nextNode(field: ArrowField): { length: number; nullCount: number } {
    const node = this.nodes[this.node++];
    if (!node) throw new ArrowError(`column "${field.path}": the record batch has too few arrays`);
    if (!(node[0] >= 0 && node[0] <= MAX_LENGTH && node[1] >= 0 && node[1] <= node[0])) {
      throw new ArrowError(`column "${field.path}": an array of ${node[0]} values is malformed`);
    }
    return { length: node[0], nullCount: node[1] };
  }

  nextBuffer(field: ArrowField): Uint8Array {
    const buffer = this.buffers[this.buffer++];
    if (!buffer) {
      throw new ArrowError(`column "${field.path}": the record batch has too few buffers`);
    }
    const [offset, length] = buffer;
    if (offset < 0 || length < 0 || offset + length > this.body.length) {
      throw new ArrowError(
        `column "${field.path}": a buffer lies outside the record batch (truncated?)`,
      );
    }
    return this.body.subarray(offset, offset + length);
  }
}

function readRecordBatch(
  batch: FlatTable,
  bodyBytes: Uint8Array,
  fields: ArrowField[],
): Record<string, unknown>[] {
  let length: number;
  let body: BatchBody;
  try {
    if (batch.table(3)) throw new ArrowError("compressed record batches are not read");
    length = batch.int64(0);
    if (!(length >= 0 && length <= MAX_LENGTH)) throw new ArrowError("a record batch is malformed");
    body = new BatchBody(batch.int64Structs(1, 2), batch.int64Structs(2, 2), bodyBytes);
  } catch (error) {
    if (error instanceof ArrowError) throw error;
    throw new ArrowError("a record batch's metadata is malformed");
  }
  const columns = fields.map((field) => {
    const values = readArray(field, body);
    if (values.length !== length) {
      throw new ArrowError(`column "${field.path}" has ${values.length} rows, the batch ${length}`);
    }
    return values;
  });
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < length; i++) {
    const row: Record<string, unknown> = {};
    fields.forEach((field, c) => (row[field.name] = columns[c][i]));
    rows.push(row);
  }
  return rows;
}

/** One array (and its children) of the batch, as JS values; null where the validity bit is 0. */
function readArray(field: ArrowField, body: BatchBody): unknown[] {
  const { length, nullCount } = body.nextNode(field);
  const type = field.type;
  if (type.kind === "null") return new Array(length).fill(null);
  const fail = (why: string): never => {
    throw new ArrowError(`column "${field.path}": ${why}`);
  };
  const validity = body.nextBuffer(field);
  if (nullCount > 0 && validity.length * 8 < length) fail("its validity bitmap is too short");
  const valid = (i: number) => nullCount === 0 || (validity[i >> 3] & (1 << (i & 7))) !== 0;
  const out = new Array<unknown>(length);
  const fill = (value: (i: number) => unknown) => {
    for (let i = 0; i < length; i++) out[i] = valid(i) ? value(i) : null;
    return out;
  };
  switch (type.kind) {
    case "int":
    case "float": {
      const data = body.nextBuffer(field);
      if (data.length < length * type.bytes) fail("its data buffer is too short");
      const numbers = numberReader(type, data);
      return fill(numbers);
    }
    case "bool": {
      const data = body.nextBuffer(field);
      if (data.length * 8 < length) fail("its data buffer is too short");
      return fill((i) => (data[i >> 3] & (1 << (i & 7))) !== 0);
    }
    case "utf8": {
      const offsets = readOffsets(field, body.nextBuffer(field), length, type.large);
      const data = body.nextBuffer(field);
      const decoder = new TextDecoder("utf-8", { fatal: true });
      return fill((i) => {
        const [start, end] = [offsets(i), offsets(i + 1)];
        if (start < 0 || end < start || end > data.length) fail(`value ${i} lies outside its data`);
        try {
          return decoder.decode(data.subarray(start, end));
        } catch {
          return fail(`value ${i} is not UTF-8`);
        }
      });
    }
    case "list": {
      const offsets = readOffsets(field, body.nextBuffer(field), length, type.large);
      const items = readArray(field.children[0], body);
      return fill((i) => {
        const [start, end] = [offsets(i), offsets(i + 1)];
        if (start < 0 || end < start || end > items.length) {
          fail(`list ${i} lies outside its items`);
        }
        return items.slice(start, end);
      });
    }
    case "fixed_size_list": {
      const items = readArray(field.children[0], body);
      if (items.length < length * type.size) fail("it has too few items");
      return fill((i) => items.slice(i * type.size, (i + 1) * type.size));
    }
    case "struct": {
      const children = field.children.map((child) => {
        const values = readArray(child, body);
        if (values.length < length) fail(`its field "${child.name}" has too few rows`);
        return values;
      });
      return fill((i) =>
        Object.fromEntries(field.children.map((child, c) => [child.name, children[c][i]]))
      );
    }
  }
}

/** Value i of an offsets buffer (int32, or int64 for the large types): length + 1 of them. */
function readOffsets(
  field: ArrowField,
  buffer: Uint8Array,
  length: number,
  large: boolean,
): (i: number) => number {
  const width = large ? 8 : 4;
  if (length > 0 && buffer.length < (length + 1) * width) {
    throw new ArrowError(`column "${field.path}": its offsets buffer is too short`);
  }
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return large ? (i) => Number(view.getBigInt64(8 * i, true)) : (i) => view.getInt32(4 * i, true);
}

/** Element i of a little-endian numeric buffer as a JS number. */
function numberReader(
  type: Extract<ArrowType, { kind: "int" | "float" }>,
  data: Uint8Array,
): (i: number) => number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (type.kind === "float") {
    if (type.bytes === 2) return (i) => halfToNumber(view.getUint16(2 * i, true));
    if (type.bytes === 4) return (i) => view.getFloat32(4 * i, true);
    return (i) => view.getFloat64(8 * i, true);
  }
  const signed = type.signed;
  switch (type.bytes) {
    case 1:
      return signed ? (i) => view.getInt8(i) : (i) => view.getUint8(i);
    case 2:
      return signed ? (i) => view.getInt16(2 * i, true) : (i) => view.getUint16(2 * i, true);
    case 4:
      return signed ? (i) => view.getInt32(4 * i, true) : (i) => view.getUint32(4 * i, true);
    case 8:
      return signed
        ? (i) => Number(view.getBigInt64(8 * i, true))
        : (i) => Number(view.getBigUint64(8 * i, true));
  }
}

/** An IEEE 754 half-precision bit pattern as a number. */
function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
