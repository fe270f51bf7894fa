// SentencePiece scores → a BPE merge list, the way Hugging Face converts a SentencePiece BPE model
// to tokenizer.json (transformers' SentencePieceExtractor): every split of a piece into two
// vocabulary pieces is a merge; pieces are ranked by score (descending; equal scores by id), and
// the splits of one piece by (left id, right id). A BPE tokenizer with this list merges like
// SentencePiece (and llama.cpp's SPM tokenizer): the adjacent pair making the best piece first.
//
// The work is finding, for each of Gemma's 256000 pieces, every split point where both halves
// are pieces: 1.16 M candidate splits. Slicing strings and looking them up in a Map costs
// ≈ 0.8 s here (each slice is a new string to hash); instead each piece's prefix hashes are
// computed once and every half is looked up by its hash in an open-addressing table: ≈ 0.15 s.
// Hashes only find candidates; every hit is confirmed by comparing the strings.

/** Two 32-bit polynomial hashes (different bases): a 64-bit fingerprint of a string. */
const BASE1 = 0x01000193;
const BASE2 = 0x3b9ac9fb;

/**
 * The merges, as [left, right] pairs. `rank(id)` is the score pieces are ordered by (higher
 * merges first). A piece spelled twice counts once, under its last id (as a JSON vocab would).
 */
export function mergesFromScores(
  pieces: readonly string[],
  rank: (id: number) => number,
): [string, string][] {
  const table = new PieceTable(pieces);
  const { h1: p1, h2: p2, pow1, pow2 } = table;
  const splits: number[][] = []; // per piece id: left id, right id, left id, right id, …
  const merged: number[] = [];
  for (let i = 0; i < pieces.length; i++) {
    const s = pieces[i];
    const n = s.length;
    table.prefixHashes(s);
    if (table.find(p1[n], p2[n], s, 0, n) !== i) continue; // an earlier spelling of a duplicate
    let found: number[] | undefined;
    // A split inside a surrogate pair leaves lone surrogates, which are never pieces.
    for (let k = 1; k < n; k++) {
      const a = table.find(p1[k], p2[k], s, 0, k);
      if (a < 0) continue;
      const b1 = (p1[n] - Math.imul(p1[k], pow1[n - k])) | 0;
      const b2 = (p2[n] - Math.imul(p2[k], pow2[n - k])) | 0;
      const b = table.find(b1, b2, s, k, n);
      if (b >= 0) (found ??= []).push(a, b);
    }
    if (found) {
      splits[i] = found;
      merged.push(i);
    }
  }
  merged.sort((x, y) => rank(y) - rank(x) || x - y);
  const out: [string, string][] = [];
  for (const i of merged) {
    const f = splits[i];
    if (f.length === 2) {
      out.push([pieces[f[0]], pieces[f[1]]]);
      continue;
    }
    const order = Array.from({ length: f.length / 2 }, (_, j) => 2 * j);
    order.sort((x, y) => f[x] - f[y] || f[x + 1] - f[y + 1]);
    for (const j of order) out.push([pieces[f[j]], pieces[f[j + 1]]]);
  }
  return out;
}

/** Piece ids by fingerprint: linear probing over typed arrays (no per-lookup allocation). */
class PieceTable {
  readonly pow1: Int32Array;
  readonly pow2: Int32Array;
  /** Prefix hashes of the last string given to prefixHashes: h[k] covers s[0, k). */
  readonly h1: Int32Array;
  readonly h2: Int32Array;
  #ids: Int32Array;
  #keys1: Int32Array;
  #keys2: Int32Array;
  #shift: number;
  #mask: number;

  constructor(readonly pieces: readonly string[]) {
    let maxLength = 0;
    for (const s of pieces) maxLength = Math.max(maxLength, s.length);
    this.pow1 = new Int32Array(maxLength + 1);
    this.pow2 = new Int32Array(maxLength + 1);
    this.pow1[0] = this.pow2[0] = 1;
    for (let i = 1; i <= maxLength; i++) {
      this.pow1[i] = Math.imul(this.pow1[i - 1], BASE1);
      this.pow2[i] = Math.imul(this.pow2[i - 1], BASE2);
    }
    this.h1 = new Int32Array(maxLength + 1);
    this.h2 = new Int32Array(maxLength + 1);
    let bits = 4;
    while (1 << bits < pieces.length * 2) bits++; // at most half full
    this.#shift = 32 - bits;
    this.#mask = (1 << bits) - 1;
    this.#ids = new Int32Array(1 << bits).fill(-1);
    this.#keys1 = new Int32Array(1 << bits);
    this.#keys2 = new Int32Array(1 << bits);
    for (let i = 0; i < pieces.length; i++) {
      const s = pieces[i];
      this.prefixHashes(s);
      let p = this.#slot(this.h1[s.length]);
      for (; this.#ids[p] >= 0; p = (p + 1) & this.#mask) {
        const same = this.#keys1[p] === this.h1[s.length] && this.#keys2[p] === this.h2[s.length];
        if (same && pieces[this.#ids[p]] === s) break; // a duplicate: the last id wins
      }
      this.#ids[p] = i;
      this.#keys1[p] = this.h1[s.length];
      this.#keys2[p] = this.h2[s.length];
    }
  }

  prefixHashes(s: string): void {
    const { h1, h2 } = this;
    for (let j = 0; j < s.length; j++) {
      const c = s.charCodeAt(j);
      h1[j + 1] = (Math.imul(h1[j], BASE1) + c) | 0;
      h2[j + 1] = (Math.imul(h2[j], BASE2) + c) | 0;
    }
  }

  /** The id of the piece s[from, to) with these hashes, or -1. */
  find(k1: number, k2: number, s: string, from: number, to: number): number {
    for (let p = this.#slot(k1); this.#ids[p] >= 0; p = (p + 1) & this.#mask) {
      if (this.#keys1[p] !== k1 || this.#keys2[p] !== k2) continue;
      const piece = this.pieces[this.#ids[p]];
      if (piece.length === to - from && s.startsWith(piece, from)) return this.#ids[p];
    }
    return -1;
  }

  /** Fibonacci hashing: the top bits of h·φ depend on every bit of h. */
  #slot(h: number): number {
    return Math.imul(h, 0x9e3779b1) >>> this.#shift;
  }
}
