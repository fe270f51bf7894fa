/**
 * Our own implementation of the tokenizer.json pipeline Gemma uses, bit-identical to
 * `@huggingface/tokenizers` (what `GemmaTokenizer` used before, and still falls back to for
 * tokenizer.json files outside this subset; `bpe_build.ts` decides), without its start-up cost:
 * the library builds a Map of 580604 JSON-stringified merge pairs on every load (≈1 s), while
 * these tables are flat typed arrays that `bpe_cache.ts` saves and maps back in a few ms.
 *
 * Encoding, step by step as in the library's `Tokenizer.encode_text` (add_special_tokens off):
 *  1. split the raw text at added tokens (`<start_of_turn>`, `\n`, `<b>`, …) whose `normalized` is
 *     false: at each position the longest one that matches, scanning left to right;
 *  2. each other piece is normalized (Gemma: " " → "▁"), split again at `normalized` added tokens,
 *     and pre-tokenized (Gemma: not at all, so a whole line is one BPE word);
 *  3. BPE on each word: start from one symbol per code point, then repeatedly merge the adjacent
 *     pair of lowest merge rank (ties: leftmost), until no adjacent pair is a merge;
 *  4. symbols not in the vocab become `<0xNN>` tokens, one per UTF-8 byte (`byte_fallback`), or
 *     the unk token, and runs of unk tokens fuse into one (`fuse_unk`).
 * Decoding runs the tokenizer.json's decoder chain (Gemma: "▁" → " ", byte tokens → UTF-8, join).
 * The steps around the BPE model (normalizer, splitting, decoder) are in bpe_pipeline.ts.
 *
 * All strings are handled in UTF-16 code units and code points exactly as the library does
 * (lone surrogates included), since ids must match it on any input.
 */

import {
  cleanUpTokenization,
  makeDecoder,
  makeNormalizer,
  makePreTokenizer,
  Splitter,
  stripAround,
} from "./bpe_pipeline.ts";

type Json = Record<string, unknown>;

/** A token added beside the model vocab (tokenizer.json's `added_tokens`), library-style. */
export interface AddedTokenSpec {
  id: number;
  content: string;
  special: boolean;
  /** Matched in the normalized text (true) or the raw text (false). */
  normalized: boolean;
  lstrip: boolean;
  rstrip: boolean;
}

/** The small, JSON-able part of the tables. */
export interface BpeMeta {
  /** Length of the id → token table: the largest id + 1 (256000 for Gemma 1/2). */
  vocabSize: number;
  /** Ids below vocabSize that name no token (none in Gemma). */
  holes: number[];
  /** `units` hold no lone surrogate (so TextDecoder can turn them into a string, fast). */
  wellFormed: boolean;
  /** `model.unk_token`: what unknown symbols encode to and unknown ids decode to (null: none). */
  unkToken: string | null;
  /** The unk token's id, or -1 when there is none (unknown symbols are then dropped). */
  unkId: number;
  byteFallback: boolean;
  fuseUnk: boolean;
  /** A word that is itself a token skips BPE. */
  ignoreMerges: boolean;
  /** In tokenizer.json order (a later duplicate content wins, as in the library). */
  addedTokens: AddedTokenSpec[];
  /** tokenizer.json's normalizer, pre_tokenizer and decoder (bpe_build.ts checked their kinds). */
  normalizer: unknown;
  preTokenizer: unknown;
  decoder: unknown;
}

/**
 * Everything encoding and decoding need. Strings are ids: the vocab is one array of UTF-16 code
 * units, merges are parallel arrays indexed by rank, and both have an open-addressing hash index.
 */
export interface BpeTables {
  meta: BpeMeta;
  /** (total code units) every token's code units, by id. */
  units: Uint16Array;
  /** (vocabSize + 1) token `id` is `units[offsets[id], offsets[id + 1])`. */
  offsets: Int32Array;
  /** (power of two) token id + 1 by `hashUnits` of its string; 0 = empty slot. */
  vocabSlots: Int32Array;
  /** (merges) left and right token ids of the merge of each rank, and the id they merge into. */
  mergeLeft: Int32Array;
  mergeRight: Int32Array;
  mergeResult: Int32Array;
  /** (power of two) rank + 1 by `hashPair(left, right)`; 0 = empty slot. */
  mergeSlots: Int32Array;
}

/** FNV-1a over the UTF-16 code units of s[from, to); pass `h` to continue a hash (of a prefix). */
export function hashUnits(s: string, from: number, to: number, h = 0x811c9dc5): number {
  for (let i = from; i < to; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h;
}

/** A well-mixed 32-bit hash of a pair of ids. */
export function hashPair(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
  h ^= h >>> 15;
  return Math.imul(h, 0x2c1b3c6d);
}

/** Slot of a hash in a table of 2^bits slots: the top bits of a multiplicative remix. */
export function slotOf(hash: number, slots: number): number {
  return Math.imul(hash ^ (hash >>> 16), 0x9e3779b1) >>> (Math.clz32(slots) + 1);
}

/** Merge ranks must fit beside a position in a heap key: rank · 2^31 + position < 2^53. */
export const MAX_MERGES = 2 ** 22;
const POSITION_SCALE = 2 ** 31;
const MEMO_BITS = 12;
/** Words shorter than this are cached, up to CACHED_WORDS of them. */
const CACHED_WORD_LENGTH = 256;
const CACHED_WORDS = 10_000;

/** A tokenizer over `BpeTables`: encode, decode, and token ⇄ id. */
export class BpeTokenizer {
  readonly vocabSize: number;
  readonly #t: BpeTables;
  readonly #m: BpeMeta;
  /** Every token's string, concatenated by id (sliced on demand into #tokens). */
  readonly #all: string;
  readonly #tokens: (string | undefined)[] = [];
  readonly #holes: Set<number>;
  /** `<0xNN>` token ids by byte, -1 where missing. */
  readonly #byteIds = new Int32Array(256);
  readonly #added = new Map<string, AddedTokenSpec>();
  /** Some added token has lstrip or rstrip. */
  readonly #strips: boolean;
  readonly #splitRaw: Splitter;
  readonly #splitNormalized: Splitter;
  readonly #normalize: ((s: string) => string) | null;
  readonly #preTokenize: ((s: string) => string[]) | null;
  readonly #decode: ((tokens: string[]) => string[]) | null;
  /** Token strings `skipSpecial` drops: special added tokens + config.additional_special_tokens. */
  readonly #special = new Set<unknown>();
  // Scratch for #word, grown as needed: per symbol its id (-1: not in vocab, -2: merged away),
  // its first code unit, and its neighbours; the heap holds rank · 2^31 + left position.
  #ids = new Int32Array(64);
  #starts = new Int32Array(65);
  #prev = new Int32Array(64);
  #next = new Int32Array(64);
  #heap = new Float64Array(64);
  /**
   * Ids of recent words (lines, for Gemma), oldest first: prompts repeat (a chat re-encodes its
   * history every turn), and a lookup costs far less than BPE. As the library does.
   */
  readonly #words = new Map<string, number[]>();
  /** #rank's memo: (a, b, rank) triples by hash; a = -1 marks an empty entry. */
  readonly #memo = new Int32Array(3 << MEMO_BITS).fill(-1);

  /** @param config tokenizer_config.json (only `additional_special_tokens` is read here) */
  constructor(tables: BpeTables, config: Json = {}) {
    this.#t = tables;
    this.#m = tables.meta;
    this.vocabSize = this.#m.vocabSize;
    this.#all = this.#m.wellFormed
      ? new TextDecoder("utf-16le", { ignoreBOM: true }).decode(tables.units)
      : unitsToString(tables.units);
    this.#holes = new Set(this.#m.holes);
    for (let b = 0; b < 256; b++) {
      const hex = b.toString(16).toUpperCase().padStart(2, "0");
      this.#byteIds[b] = this.tokenToId(`<0x${hex}>`) ?? -1;
    }
    this.#normalize = makeNormalizer(this.#m.normalizer);
    this.#preTokenize = makePreTokenizer(this.#m.preTokenizer);
    this.#decode = makeDecoder(this.#m.decoder);
    const raw: string[] = [];
    const normalized: string[] = [];
    for (const t of this.#m.addedTokens) {
      this.#added.set(t.content, t);
      if (t.special) this.#special.add(t.content);
      (t.normalized && this.#normalize ? normalized : raw).push(t.content);
    }
    for (const t of (config.additional_special_tokens ?? []) as unknown[]) this.#special.add(t);
    this.#strips = this.#m.addedTokens.some((t) => t.lstrip || t.rstrip);
    this.#splitRaw = new Splitter(raw);
    this.#splitNormalized = new Splitter(normalized);
  }

  /** Text → ids, no special tokens added (added tokens written in the text map to their ids). */
  encode(text: string): number[] {
    const out: number[] = [];
    const sections = this.#splitRaw.split(text);
    stripAround(sections, this.#added, this.#strips);
    for (let section of sections) {
      if (section.length === 0) continue;
      const added = this.#added.get(section);
      if (added) {
        out.push(added.id);
        continue;
      }
      if (this.#normalize) section = this.#normalize(section);
      if (section.length === 0) continue;
      const pieces = this.#splitNormalized.split(section);
      stripAround(pieces, this.#added, this.#strips);
      for (const piece of pieces) {
        if (piece.length === 0) continue;
        const added = this.#added.get(piece);
        if (added) {
          out.push(added.id);
          continue;
        }
        const start = out.length;
        for (const word of this.#preTokenize ? this.#preTokenize(piece) : [piece]) {
          this.#word(word, out);
        }
        if (this.#m.fuseUnk && this.#m.unkId >= 0) fuseUnk(out, start, this.#m.unkId);
      }
    }
    return out;
  }

  /**
   * Ids → text through the decoder chain; unknown ids decode as the unk token. `cleanUp` applies
   * the library's clean_up_tokenization (" ." → "." etc.).
   */
  decode(ids: number[], skipSpecial: boolean, cleanUp: boolean): string {
    let tokens = ids.map((id) => (this.idToToken(Number(id)) ?? this.#m.unkToken) as string);
    if (skipSpecial) tokens = tokens.filter((t) => !this.#special.has(t));
    const text = this.#decode ? this.#decode(tokens).join("") : tokens.join(" ");
    return cleanUp ? cleanUpTokenization(text) : text;
  }

  tokenToId(token: string): number | undefined {
    const id = this.#find(token, 0, token.length);
    return id < 0 ? undefined : id;
  }

  idToToken(id: number): string | undefined {
    const { offsets } = this.#t;
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.#holes.has(id)) {
      return undefined;
    }
    return this.#tokens[id] ??= this.#all.slice(offsets[id], offsets[id + 1]);
  }

  /** The id of the token spelled s[from, to), or -1. */
  #find(s: string, from: number, to: number): number {
    const { vocabSlots: slots, offsets, units } = this.#t;
    const mask = slots.length - 1;
    const n = to - from;
    for (let p = slotOf(hashUnits(s, from, to), slots.length);; p = (p + 1) & mask) {
      const e = slots[p];
      if (e === 0) return -1;
      const o = offsets[e - 1];
      if (offsets[e] - o !== n) continue;
      let k = 0;
      while (k < n && units[o + k] === s.charCodeAt(from + k)) k++;
      if (k === n) return e - 1;
    }
  }

  /**
   * The rank of the merge of tokens a and b, or -1. Text repeats the same pairs, so a small
   * direct-mapped memo (which stays in the CPU cache) answers most lookups before the merge
   * table (megabytes, a cache miss or three per lookup) is probed.
   */
  #rank(a: number, b: number): number {
    const h = hashPair(a, b);
    const m = h >>> (32 - MEMO_BITS);
    const memo = this.#memo;
    if (memo[3 * m] === a && memo[3 * m + 1] === b) return memo[3 * m + 2];
    const { mergeSlots: slots, mergeLeft, mergeRight } = this.#t;
    const mask = slots.length - 1;
    let rank = -1;
    for (let p = slotOf(h, slots.length);; p = (p + 1) & mask) {
      const e = slots[p];
      if (e === 0) break;
      if (mergeLeft[e - 1] === a && mergeRight[e - 1] === b) {
        rank = e - 1;
        break;
      }
    }
    memo[3 * m] = a;
    memo[3 * m + 1] = b;
    memo[3 * m + 2] = rank;
    return rank;
  }

  /** One pre-tokenized word → ids, appended to out. */
  #word(word: string, out: number[]): void {
    if (word.length === 0) return;
    if (this.#m.ignoreMerges) {
      const id = this.#find(word, 0, word.length);
      if (id >= 0) {
        out.push(id);
        return;
      }
    }
    const cacheable = word.length < CACHED_WORD_LENGTH;
    const hit = cacheable ? this.#words.get(word) : undefined;
    if (hit) {
      for (const id of hit) out.push(id);
      return;
    }
    const start = out.length;
    const n = this.#symbols(word);
    if (n > 1) this.#merge(n);
    for (let p = 0; p >= 0; p = this.#next[p]) {
      const id = this.#ids[p];
      if (id >= 0) out.push(id);
      else this.#unknown(word, this.#starts[p], this.#starts[p + 1], out);
    }
    if (!cacheable) return;
    this.#words.set(word, out.slice(start));
    if (this.#words.size > CACHED_WORDS) this.#words.delete(this.#words.keys().next().value!);
  }

  /** Fills the scratch arrays with one symbol per code point of word; returns their count. */
  #symbols(word: string): number {
    if (this.#starts.length <= word.length) {
      const size = 2 * word.length + 1;
      this.#ids = new Int32Array(size);
      this.#starts = new Int32Array(size + 1);
      this.#prev = new Int32Array(size);
      this.#next = new Int32Array(size);
    }
    let n = 0;
    for (let i = 0; i < word.length; n++) {
      const c = word.charCodeAt(i);
      const pair = c >= 0xd800 && c < 0xdc00 && i + 1 < word.length &&
        (word.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      const end = i + (pair ? 2 : 1);
      this.#ids[n] = this.#find(word, i, end);
      this.#starts[n] = i;
      this.#prev[n] = n - 1;
      this.#next[n] = n + 1;
      i = end;
    }
    this.#starts[n] = word.length;
    this.#next[n - 1] = -1;
    return n;
  }

  /**
   * BPE over the n symbols in scratch: a min-heap of candidate merges keyed rank · 2^31 + left
   * position, so the lowest rank pops first and, among equal ranks, the leftmost (the library's
   * `rank + position / length` order). Entries go stale when a neighbour merges; a popped entry
   * is applied only if its rank's pair is still what stands at that position.
   */
  #merge(n: number): void {
    const { mergeLeft, mergeRight, mergeResult } = this.#t;
    const ids = this.#ids, prev = this.#prev, next = this.#next;
    let size = 0;
    const push = (left: number) => {
      const a = ids[left], b = ids[next[left]];
      if (a < 0 || b < 0) return;
      const rank = this.#rank(a, b);
      if (rank < 0) return;
      if (size === this.#heap.length) {
        const bigger = new Float64Array(2 * size);
        bigger.set(this.#heap);
        this.#heap = bigger;
      }
      siftUp(this.#heap, size++, rank * POSITION_SCALE + left);
    };
    for (let i = 0; i + 1 < n; i++) push(i);
    while (size > 0) {
      const heap = this.#heap;
      const top = heap[0];
      size--;
      siftDown(heap, size, heap[size]); // the last entry fills the root's place
      const rank = Math.floor(top / POSITION_SCALE);
      const left = top - rank * POSITION_SCALE;
      const right = next[left];
      if (right < 0 || ids[left] !== mergeLeft[rank] || ids[right] !== mergeRight[rank]) continue;
      ids[left] = mergeResult[rank];
      ids[right] = -2;
      next[left] = next[right];
      if (next[left] >= 0) {
        prev[next[left]] = left;
        push(left);
      }
      if (prev[left] >= 0) push(prev[left]);
    }
  }

  /** A code point not in the vocab: its UTF-8 bytes as `<0xNN>` tokens, else unk (or nothing). */
  #unknown(word: string, from: number, to: number, out: number[]): void {
    if (this.#m.byteFallback) {
      let cp = word.codePointAt(from)!;
      if (to - from === 1 && cp >= 0xd800 && cp < 0xe000) cp = 0xfffd; // as TextEncoder does
      const bytes = cp < 0x80
        ? [cp]
        : cp < 0x800
        ? [0xc0 | (cp >> 6), 0x80 | (cp & 63)]
        : cp < 0x10000
        ? [0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)]
        : [0xf0 | (cp >> 18), 0x80 | ((cp >> 12) & 63), 0x80 | ((cp >> 6) & 63), 0x80 | (cp & 63)];
      const byteIds = bytes.map((b) => this.#byteIds[b]);
      if (byteIds.every((id) => id >= 0)) {
        out.push(...byteIds);
        return;
      }
    }
    if (this.#m.unkId >= 0) out.push(this.#m.unkId);
  }
}

/** Min-heap insert of key at index i (the heap holds i entries before). */
function siftUp(heap: Float64Array, i: number, key: number): void {
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (heap[parent] <= key) break;
    heap[i] = heap[parent];
    i = parent;
  }
  heap[i] = key;
}

/** Re-seats key (the old last entry) from the root of a heap of `size` entries. */
function siftDown(heap: Float64Array, size: number, key: number): void {
  let i = 0;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && heap[child + 1] < heap[child]) child++;
    if (heap[child] >= key) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = key;
}

/** Collapses each run of unk ids in out[start…] into one. */
function fuseUnk(out: number[], start: number, unkId: number): void {
  let w = start;
  for (let r = start; r < out.length; r++) {
    if (out[r] === unkId && w > start && out[w - 1] === unkId) continue;
    out[w++] = out[r];
  }
  out.length = w;
}

/** UTF-16 code units → string, lone surrogates kept (TextDecoder would replace them). */
export function unitsToString(units: Uint16Array): string {
  const parts: string[] = [];
  for (let i = 0; i < units.length; i += 8192) {
    parts.push(String.fromCharCode(...units.subarray(i, i + 8192)));
  }
  return parts.join("");
}
