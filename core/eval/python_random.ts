// Python's `random.Random` (CPython 3.11: MT19937 seeded by init_by_array, `getrandbits`,
// `_randbelow` by rejection, `sample`), enough to draw the same few-shot examples as lm-eval, whose
// sampler is `random.Random(1234)` sampling from the task's few-shot split document by document.

const N = 624;
const M = 397;

export class PythonRandom {
  #state = new Uint32Array(N);
  #index = N + 1;

  /** `random.Random(seed)` for a non-negative integer seed (its 32-bit words, low first). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
    }
    const key: number[] = [];
    for (let s = seed; s > 0; s = Math.floor(s / 2 ** 32)) key.push(s % 2 ** 32);
    this.#initByArray(key.length > 0 ? key : [0]);
  }

  #initGenrand(s: number): void {
    const mt = this.#state;
    mt[0] = s >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.#index = N;
  }

  #initByArray(key: number[]): void {
    const mt = this.#state;
    this.#initGenrand(19650218);
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  /** The next 32-bit output of MT19937. */
  nextUint32(): number {
    const mt = this.#state;
    if (this.#index >= N) {
      for (let k = 0; k < N; k++) {
        const y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
        mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.#index = 0;
    }
    let y = mt[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `getrandbits(k)` for 1 ≤ k ≤ 32. */
  getrandbits(k: number): number {
    if (k < 1 || k > 32) throw new RangeError("getrandbits: 1 to 32 bits");
    return this.nextUint32() >>> (32 - k);
  }

  /** `_randbelow(n)`: uniform in [0, n) by rejection over n.bit_length() bits. */
  randbelow(n: number): number {
    const k = Math.floor(Math.log2(n)) + 1; // n.bit_length()
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `sample(population, k)`: k distinct items in selection order, by the same two methods. */
  sample<T>(population: readonly T[], k: number): T[] {
    const n = population.length;
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new RangeError("Sample larger than population or is negative");
    }
    const result: T[] = new Array(k);
    let setsize = 21; // Python's: a list copy beats a set of picks for small populations
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    if (n <= setsize) {
      const pool = [...population];
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = pool[j];
        pool[j] = pool[n - i - 1];
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = population[j];
      }
    }
    return result;
  }

  /** `random()`: 53 random bits as a float in [0, 1) (genrand_res53). */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** `choices(population, k=k)` without weights: k draws with replacement. */
  choices<T>(population: readonly T[], k: number): T[] {
    const n = population.length;
    return Array.from({ length: k }, () => population[Math.floor(this.random() * n)]);
  }
}
