// Just enough of the FlatBuffers wire format to read Arrow's IPC metadata (Schema.fbs,
// Message.fbs) without generated code. A table starts with an int32 pointing back (pos - value)
// to its vtable: uint16 vtable size, uint16 table size, then one uint16 offset per field id, 0
// (or past the vtable's end) meaning "absent, use the default". Reference fields (tables, strings,
// vectors) hold a uint32 offset relative to where it is stored; a vector is a uint32 count and
// its elements, a string a uint32 byte length and UTF-8 bytes. All little-endian. Out-of-range
// offsets throw RangeError (from DataView), which the caller turns into its own error.

export class FlatTable {
  constructor(readonly view: DataView, readonly pos: number) {}

  /** The table at the buffer's root (a uint32 offset at byte 0). */
  static root(bytes: Uint8Array): FlatTable {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return new FlatTable(view, view.getUint32(0, true));
  }

  /** Where field `id` is stored in this table, or 0 when it is absent. */
  private field(id: number): number {
    const vtable = this.pos - this.view.getInt32(this.pos, true);
    const entry = 4 + 2 * id;
    if (entry >= this.view.getUint16(vtable, true)) return 0;
    const offset = this.view.getUint16(vtable + entry, true);
    return offset === 0 ? 0 : this.pos + offset;
  }

  uint8(id: number, fallback = 0): number {
    const at = this.field(id);
    return at ? this.view.getUint8(at) : fallback;
  }

  int16(id: number, fallback = 0): number {
    const at = this.field(id);
    return at ? this.view.getInt16(at, true) : fallback;
  }

  int32(id: number, fallback = 0): number {
    const at = this.field(id);
    return at ? this.view.getInt32(at, true) : fallback;
  }

  /** An int64 field as a number (Arrow's lengths and offsets stay far below 2^53). */
  int64(id: number, fallback = 0): number {
    const at = this.field(id);
    return at ? Number(this.view.getBigInt64(at, true)) : fallback;
  }

  bool(id: number, fallback = false): boolean {
    const at = this.field(id);
    return at ? this.view.getUint8(at) !== 0 : fallback;
  }

  /** Follows a reference field's uint32 offset; undefined when the field is absent. */
  private target(id: number): number | undefined {
    const at = this.field(id);
    return at ? at + this.view.getUint32(at, true) : undefined;
  }

  table(id: number): FlatTable | undefined {
    const at = this.target(id);
    return at === undefined ? undefined : new FlatTable(this.view, at);
  }

  string(id: number): string | undefined {
    const at = this.target(id);
    if (at === undefined) return undefined;
    const length = this.view.getUint32(at, true);
    const bytes = new Uint8Array(this.view.buffer, this.view.byteOffset + at + 4, length);
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  }

  /** A vector of tables (each element a uint32 offset from its own position). */
  tables(id: number): FlatTable[] {
    const at = this.target(id);
    if (at === undefined) return [];
    const count = this.view.getUint32(at, true);
    const out: FlatTable[] = [];
    for (let i = 0; i < count; i++) {
      const element = at + 4 + 4 * i;
      out.push(new FlatTable(this.view, element + this.view.getUint32(element, true)));
    }
    return out;
  }

  /** A vector of structs of int64 fields, `width` of them each (Arrow's FieldNode and Buffer). */
  int64Structs(id: number, width: number): number[][] {
    const at = this.target(id);
    if (at === undefined) return [];
    const count = this.view.getUint32(at, true);
    const out: number[][] = [];
    for (let i = 0; i < count; i++) {
      const start = at + 4 + 8 * width * i;
      const struct: number[] = [];
      for (let j = 0; j < width; j++) {
        struct.push(Number(this.view.getBigInt64(start + 8 * j, true)));
      }
      out.push(struct);
    }
    return out;
  }
}
