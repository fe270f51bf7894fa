// The GPU context: one adapter and device with the adapter's maximum limits, a pipeline cache, and
// `GpuBatch`, which records many kernel dispatches into one command encoder and submits them once.
// Nothing here knows about Gemma; kernels build on these helpers.

/** Element type of a weight matrix on the GPU. Activations are always f32. */
export type DType = "f32" | "f16";

export class GpuError extends Error {
  override name = "GpuError";
}

export interface GpuContextOptions {
  /** Fail unless the adapter has `shader-f16`. */
  requireF16?: boolean;
  /**
   * Largest byte size bound to one storage binding. Defaults to the adapter's
   * `maxStorageBufferBindingSize`; tests lower it to exercise the chunked paths.
   */
  maxBindingBytes?: number;
}

export class GpuContext {
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo;
  /**
   * A hash of the adapter's limits and features. Two driver versions can describe the same
   * device alike (Mesa 22 and 25's lavapipe both say "llvmpipe (LLVM 15.0.6, 256 bits)"), but
   * they seldom report the same limits; per-device choices (tune.ts) are keyed by it too.
   */
  readonly adapterFingerprint: string;
  /** True when the device was created with `shader-f16`. */
  readonly hasF16: boolean;
  /**
   * The fewest lanes a subgroup has on the device, where it was created with `subgroups`
   * (subgroup operations), else 0. Kernels that broadcast from 8 lanes need ≥ 8.
   */
  readonly subgroupLanes: number;
  /** Largest byte size one storage binding may span (≤ maxStorageBufferBindingSize). */
  readonly maxBindingBytes: number;
  readonly maxBufferBytes: number;
  /** The device's maxComputeWorkgroupsPerDimension, read once (every dispatch checks it). */
  readonly maxWorkgroupsPerDimension: number;
  readonly #pipelines = new Map<string, Map<string, GPUComputePipeline>>();
  readonly #uniformPool: GPUBuffer[] = [];
  #latency: Promise<number> | undefined;
  readonly #bindGroups = new Map<string, GPUBindGroup>();

  constructor(
    device: GPUDevice,
    info: GPUAdapterInfo,
    maxBindingBytes: number,
    adapterFingerprint = "",
  ) {
    this.device = device;
    this.adapterInfo = info;
    this.adapterFingerprint = adapterFingerprint;
    this.hasF16 = device.features.has("shader-f16");
    const minSize = (info as { subgroupMinSize?: number }).subgroupMinSize ?? 0;
    this.subgroupLanes = device.features.has("subgroups" as GPUFeatureName) ? minSize : 0;
    this.maxBindingBytes = maxBindingBytes;
    this.maxBufferBytes = device.limits.maxBufferSize;
    this.maxWorkgroupsPerDimension = device.limits.maxComputeWorkgroupsPerDimension;
  }

  /** A compute pipeline for `code`, compiled once per (code, entry point, constants). */
  pipeline(
    code: string,
    constants: Record<string, number> = {},
    entryPoint = "main",
  ): GPUComputePipeline {
    // Keyed by the code string itself (the same string every call: its hash is computed once,
    // where a concatenated key of a 15 kB shader would be hashed anew per dispatch).
    let variants = this.#pipelines.get(code);
    if (!variants) this.#pipelines.set(code, variants = new Map());
    const key = entryPoint + JSON.stringify(constants);
    let pipeline = variants.get(key);
    if (!pipeline) {
      const module = this.device.createShaderModule({ code });
      pipeline = this.device.createComputePipeline({
        layout: "auto",
        compute: { module, entryPoint, constants },
      });
      variants.set(key, pipeline);
    }
    return pipeline;
  }

  /**
   * The bind group of `pipeline` with `bindings` at 1, 2, … of group 0 and uniform slot
   * `uniformSlot` of the pool at 0 (if given), created once: a decode step binds the same buffers
   * (and uniform slots) every token, and creating a bind group costs more than all the rest of
   * recording a dispatch. The cache is emptied when it grows past BIND_GROUP_CACHE (sessions come
   * and go, and entries of destroyed buffers are never hit again).
   */
  bindGroup(
    pipeline: GPUComputePipeline,
    bindings: Bound[],
    uniformSlot?: [bufferIndex: number, offset: number],
  ): GPUBindGroup {
    let key = String(objectId(pipeline));
    if (uniformSlot) key += `|u${uniformSlot[0]}:${uniformSlot[1]}`;
    for (const b of bindings) {
      key += b instanceof GPUBuffer || b instanceof GPUTextureView
        ? `|${objectId(b)}`
        : `|${objectId(b.buffer)}:${b.offset}:${b.size}`;
    }
    let group = this.#bindGroups.get(key);
    if (!group) {
      if (this.#bindGroups.size >= BIND_GROUP_CACHE) this.#bindGroups.clear();
      const entries: GPUBindGroupEntry[] = bindings.map((b, i) => ({
        binding: i + 1,
        resource: b instanceof GPUBuffer ? { buffer: b } : b,
      }));
      if (uniformSlot) {
        const [index, offset] = uniformSlot;
        const buffer = this.uniformBuffer(index);
        entries.unshift({ binding: 0, resource: { buffer, offset, size: UNIFORM_SLOT_BYTES } });
      }
      group = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
      this.#bindGroups.set(key, group);
    }
    return group;
  }

  /** Uniform buffer number `i` of the pool shared by batches (queue order makes reuse safe). */
  uniformBuffer(i: number): GPUBuffer {
    while (this.#uniformPool.length <= i) {
      this.#uniformPool.push(this.device.createBuffer({
        size: UNIFORM_POOL_BYTES,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      }));
    }
    return this.#uniformPool[i];
  }

  /** A storage buffer of at least `bytes` (rounded up to 4), zero-filled by WebGPU. */
  createBuffer(bytes: number, label?: string): GPUBuffer {
    if (bytes > this.maxBufferBytes) {
      throw new GpuError(
        `Cannot allocate ${
          label ?? "a buffer"
        } of ${bytes} bytes: the device's maxBufferSize is ${this.maxBufferBytes}`,
      );
    }
    return this.device.createBuffer({
      label,
      size: Math.max(4, alignTo(bytes, 4)),
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }

  /** Writes `data` into `buffer` at byte `offset`, padding the write to a multiple of 4 bytes. */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    // Our arrays never live in a SharedArrayBuffer; the cast only satisfies the DOM typings.
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength) as Uint8Array<
      ArrayBuffer
    >;
    if (bytes.byteLength % 4 === 0) {
      this.device.queue.writeBuffer(buffer, offset, bytes);
    } else {
      const padded = new Uint8Array(alignTo(bytes.byteLength, 4));
      padded.set(bytes);
      this.device.queue.writeBuffer(buffer, offset, padded);
    }
  }

  /** A new storage buffer holding `data`. */
  upload(data: Float32Array | Uint32Array | Int32Array | Uint16Array, label?: string): GPUBuffer {
    const buffer = this.createBuffer(data.byteLength, label);
    this.write(buffer, data);
    return buffer;
  }

  /** Copies `bytes` bytes of `buffer` from `offset` back to the CPU. */
  async readBytes(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const size = alignTo(bytes, 4);
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    return copy;
  }

  async readF32(buffer: GPUBuffer, count: number, offset = 0): Promise<Float32Array> {
    return new Float32Array(await this.readBytes(buffer, count * 4, offset * 4));
  }

  async readU32(buffer: GPUBuffer, count: number, offset = 0): Promise<Uint32Array> {
    return new Uint32Array(await this.readBytes(buffer, count * 4, offset * 4));
  }

  /**
   * Milliseconds from submitting a 4-byte copy to holding its result on an idle device (the
   * least of 3; measured once). On Deno this includes waiting for the next device poll.
   */
  readbackLatencyMs(): Promise<number> {
    this.#latency ??= (async () => {
      const source = this.createBuffer(4, "latency probe");
      let best = Infinity;
      for (let i = 0; i < 3; i++) {
        const start = performance.now();
        await this.readBytes(source, 4);
        best = Math.min(best, performance.now() - start);
      }
      source.destroy();
      return best;
    })();
    return this.#latency;
  }

  /** A new batch: record dispatches, then `submit()` once (or `profile()` when profiling). */
  batch(options: { profile?: boolean } = {}): GpuBatch {
    return new GpuBatch(this, options.profile);
  }

  destroy(): void {
    this.device.destroy();
  }
}

const UNIFORM_POOL_BYTES = 64 * 1024;
/** Dispatches timed by one query set (WebGPU allows 4096 queries per set, two per dispatch). */
const OPERATIONS_PER_QUERY_SET = 2048;
/** Uniform slots are aligned to the largest minUniformBufferOffsetAlignment WebGPU allows. */
const UNIFORM_SLOT_BYTES = 256;

export function alignTo(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/**
 * Splits `count` workgroups into an `[x, y]` grid with x ≤ the per-dimension limit (65535), for
 * kernels whose workgroup count can exceed it. The kernel recovers its index as
 * `wid.x + wid.y * num_workgroups.x` and must ignore indices ≥ count (the grid may overshoot).
 */
export function workgroupGrid(gpu: GpuContext, count: number): [number, number] {
  const limit = gpu.maxWorkgroupsPerDimension;
  if (count <= limit) return [count, 1];
  const y = Math.ceil(count / limit);
  return [Math.ceil(count / y), y];
}

/** Bind groups a GpuContext keeps (see bindGroup): a decode step of Gemma-7B needs ~400. */
const BIND_GROUP_CACHE = 4096;

/** A number per object (pipelines, buffers), for cache keys. */
const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;
function objectId(object: object): number {
  let id = objectIds.get(object);
  if (id === undefined) objectIds.set(object, id = nextObjectId++);
  return id;
}

/** A storage binding: a whole buffer, or a byte range of one. */
export type Binding = GPUBuffer | { buffer: GPUBuffer; offset: number; size: number };

/** What a dispatch binds: storage bindings, or a texture (weights, see weight_texture.ts). */
export type Bound = Binding | GPUTextureView;

/**
 * Records kernel dispatches into one command encoder. Each dispatch gets its own 256-byte
 * uniform slot; the slots are written with `queue.writeBuffer` at submit, which WebGPU orders
 * before the submitted commands, so pool buffers can be reused by the next batch.
 */
export class GpuBatch {
  readonly gpu: GpuContext;
  /** Dispatches and copies recorded so far (each costs a fixed overhead on the device). */
  commands = 0;
  #encoder: GPUCommandEncoder;
  #pass: GPUComputePassEncoder | null = null;
  /** Uniform pool buffers' contents, as 32-bit integers and floats over the same bytes. */
  #uniforms: { words: Uint32Array<ArrayBuffer>; floats: Float32Array<ArrayBuffer> }[] = [];
  #slot = 0;
  /**
   * Profiling (see `profile()`): the marked sections, and per operation its section and either
   * a pair of GPU timestamps (where the device has timestamp-query) or a command buffer of its
   * own, to be timed from the CPU.
   */
  readonly #profiling: boolean;
  #sections: { label: string; weightBytes: number }[] = [];
  #operations: { section: number; commands?: GPUCommandBuffer }[] = [];
  /** Timestamp query sets, OPERATIONS_PER_QUERY_SET operations each (null: none yet). */
  #timestamps: GPUQuerySet[] | null = null;

  constructor(gpu: GpuContext, profiling = false) {
    this.gpu = gpu;
    this.#profiling = profiling;
    this.#encoder = gpu.device.createCommandEncoder();
  }

  /**
   * Names the operations recorded from here on, for `profile()`; `weightBytes` are the weight
   * bytes they read (for a bandwidth figure). Costs nothing when not profiling.
   */
  mark(label: string, weightBytes = 0): void {
    if (this.#profiling) this.#sections.push({ label, weightBytes });
  }

  /** Opens a compute pass; when profiling with timestamps, one per dispatch, timed. */
  #beginPass(): GPUComputePassEncoder {
    if (this.#pass) return this.#pass;
    if (this.#profiling && this.gpu.device.features.has("timestamp-query")) {
      this.#timestamps ??= [];
      const i = this.#operations.length % OPERATIONS_PER_QUERY_SET;
      if (i === 0) {
        this.#timestamps.push(this.gpu.device.createQuerySet({
          type: "timestamp",
          count: OPERATIONS_PER_QUERY_SET * 2,
        }));
      }
      return this.#pass = this.#encoder.beginComputePass({
        timestampWrites: {
          querySet: this.#timestamps.at(-1)!,
          beginningOfPassWriteIndex: 2 * i,
          endOfPassWriteIndex: 2 * i + 1,
        },
      });
    }
    return this.#pass = this.#encoder.beginComputePass();
  }

  /** When profiling, each operation is timed on its own (see #operations). */
  #afterOperation(isDispatch: boolean): void {
    if (!this.#profiling) return;
    this.#endPass();
    const section = this.#sections.length - 1;
    if (this.#timestamps) {
      // Copies have no timestamps; they are cheap next to the kernels around them.
      if (isDispatch) this.#operations.push({ section });
      return;
    }
    this.#operations.push({ section, commands: this.#encoder.finish() });
    this.#encoder = this.gpu.device.createCommandEncoder();
  }

  /**
   * Dispatches `pipeline` with `uniforms` at binding 0 (if given; at most 256 bytes) and the
   * storage `bindings` at 1, 2, … of group 0.
   */
  dispatch(
    pipeline: GPUComputePipeline,
    uniforms: Uniforms | null,
    bindings: Bound[],
    workgroups: [number, number?, number?],
  ): void {
    let uniformSlot: [number, number] | undefined;
    if (uniforms) {
      const perBuffer = UNIFORM_POOL_BYTES / UNIFORM_SLOT_BYTES;
      const bufferIndex = Math.floor(this.#slot / perBuffer);
      const offset = (this.#slot % perBuffer) * UNIFORM_SLOT_BYTES;
      this.#slot++;
      while (this.#uniforms.length <= bufferIndex) {
        const bytes = new ArrayBuffer(UNIFORM_POOL_BYTES);
        this.#uniforms.push({ words: new Uint32Array(bytes), floats: new Float32Array(bytes) });
      }
      const { words, floats } = this.#uniforms[bufferIndex];
      const { values, isFloat } = uniforms;
      for (let i = 0, at = offset / 4; i < values.length; i++, at++) {
        if (isFloat[i]) floats[at] = values[i];
        else words[at] = values[i];
      }
      uniformSlot = [bufferIndex, offset];
    }
    const bindGroup = this.gpu.bindGroup(pipeline, bindings, uniformSlot);
    const [x, y = 1, z = 1] = workgroups;
    const limit = this.gpu.maxWorkgroupsPerDimension;
    if (x > limit || y > limit || z > limit) {
      throw new GpuError(`dispatch of ${x}×${y}×${z} workgroups exceeds the device limit ${limit}`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    this.commands++;
    const pass = this.#beginPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.#afterOperation(true);
  }

  /** Copies `bytes` bytes between buffers, in order with the dispatches around it. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.#endPass();
    this.commands++;
    this.#encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, alignTo(bytes, 4));
    this.#afterOperation(false);
  }

  #endPass(): void {
    this.#pass?.end();
    this.#pass = null;
  }

  /** Writes the uniform slots and submits everything recorded. The batch cannot be reused. */
  submit(): void {
    if (this.#profiling) throw new GpuError("a profiling batch is run with profile()");
    this.#writeUniforms();
    this.#endPass();
    this.gpu.device.queue.submit([this.#encoder.finish()]);
  }

  /**
   * Runs a profiling batch (`gpu.batch({ profile: true })`) and returns the milliseconds and
   * weight bytes per marked section. With timestamp-query the times are the GPU's own, per
   * dispatch; without, each operation is submitted and awaited alone, which adds the submit
   * latency to every operation (fine for large kernels, misleading for small ones).
   */
  async profile(): Promise<Map<string, { ms: number; weightBytes: number }>> {
    this.#writeUniforms();
    const result = new Map<string, { ms: number; weightBytes: number }>();
    const add = (section: number, ms: number, weightBytes = 0) => {
      const label = this.#sections[section]?.label ?? "(unmarked)";
      const entry = result.get(label) ?? { ms: 0, weightBytes: 0 };
      entry.ms += ms;
      entry.weightBytes += weightBytes;
      result.set(label, entry);
    };
    this.#sections.forEach((s, i) => add(i, 0, s.weightBytes));
    const queue = this.gpu.device.queue;
    await queue.onSubmittedWorkDone();
    if (this.#timestamps) {
      const count = this.#operations.length * 2;
      const resolved = this.gpu.device.createBuffer({
        size: Math.max(8, count * 8),
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      this.#endPass();
      this.#timestamps.forEach((set, k) => {
        const first = k * OPERATIONS_PER_QUERY_SET * 2;
        const queries = Math.min(OPERATIONS_PER_QUERY_SET * 2, count - first);
        this.#encoder.resolveQuerySet(set, 0, queries, resolved, first * 8);
      });
      queue.submit([this.#encoder.finish()]);
      const ticks = new BigInt64Array(await this.gpu.readBytes(resolved, count * 8));
      this.#operations.forEach(({ section }, i) => {
        add(section, Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6);
      });
      resolved.destroy();
      for (const set of this.#timestamps) set.destroy();
      return result;
    }
    for (const { section, commands } of this.#operations) {
      const start = performance.now();
      queue.submit([commands!]);
      await queue.onSubmittedWorkDone();
      add(section, performance.now() - start);
    }
    return result;
  }

  #writeUniforms(): void {
    const used = Math.ceil(this.#slot * UNIFORM_SLOT_BYTES / UNIFORM_POOL_BYTES);
    for (let i = 0; i < used; i++) {
      const bytes = i === used - 1
        ? this.#slot * UNIFORM_SLOT_BYTES - i * UNIFORM_POOL_BYTES
        : UNIFORM_POOL_BYTES;
      const { words } = this.#uniforms[i];
      this.gpu.device.queue.writeBuffer(this.gpu.uniformBuffer(i), 0, words, 0, bytes / 4);
    }
  }
}

/**
 * Uniform fields, each a 4-byte u32, i32 or f32, in declaration order. Plain numbers until a
 * dispatch writes them into its uniform slot: recording a decode step makes hundreds.
 */
export class Uniforms {
  readonly values: number[] = [];
  /** Per value: an f32 (else a 32-bit integer, stored modulo 2^32 like an i32 or u32). */
  readonly isFloat: boolean[] = [];

  u32(value: number): this {
    return this.#push(value, false);
  }

  i32(value: number): this {
    return this.#push(value, false);
  }

  f32(value: number): this {
    return this.#push(value, true);
  }

  #push(value: number, isFloat: boolean): this {
    if (this.values.length === UNIFORM_SLOT_BYTES / 4) {
      throw new GpuError("uniform block too large");
    }
    this.values.push(value);
    this.isFloat.push(isFloat);
    return this;
  }
}

/**
 * Opens the default WebGPU adapter with its maximum limits (and `shader-f16` when present).
 * Throws GpuError with a one-line reason when there is no adapter or a requirement is unmet.
 */
export async function createGpuContext(options: GpuContextOptions = {}): Promise<GpuContext> {
  if (typeof navigator === "undefined" || !("gpu" in navigator)) {
    throw new GpuError("WebGPU is not available in this runtime");
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new GpuError(
      "No WebGPU adapter found (on Linux without a GPU, install mesa-vulkan-drivers for lavapipe)",
    );
  }
  const hasF16 = adapter.features.has("shader-f16");
  if (options.requireF16 && !hasF16) {
    throw new GpuError(`The WebGPU adapter "${describe(adapter.info)}" has no shader-f16`);
  }
  const wanted = [
    "maxStorageBufferBindingSize",
    "maxBufferSize",
    "maxComputeWorkgroupStorageSize",
    "maxComputeInvocationsPerWorkgroup",
    "maxComputeWorkgroupSizeX",
    "maxComputeWorkgroupsPerDimension",
    "maxStorageBuffersPerShaderStage",
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const name of wanted) requiredLimits[name] = adapter.limits[name];
  // Timestamps serve only the benchmark's profile; take them where the adapter has them.
  const features: GPUFeatureName[] = [
    ...(hasF16 ? ["shader-f16" as const] : []),
    ...(adapter.features.has("timestamp-query") ? ["timestamp-query" as const] : []),
  ];
  // Deno's adapter does not list "subgroups" among its features even where the device grants
  // them (lavapipe does): ask, and go on without where refused.
  const device = await adapter.requestDevice({
    requiredFeatures: [...features, "subgroups" as GPUFeatureName],
    requiredLimits,
  }).catch(() => adapter.requestDevice({ requiredFeatures: features, requiredLimits }));
  device.addEventListener("uncapturederror", (event) => {
    const error = (event as GPUUncapturedErrorEvent).error;
    console.error(`WebGPU error: ${error.message}`);
    // Validation errors otherwise only print (WebGPU carries on with invalid objects); tests
    // set GEMMA_STRICT_GPU=1 so that one fails the run.
    if (strictGpuErrors()) {
      queueMicrotask(() => {
        throw new GpuError(`WebGPU error: ${error.message}`);
      });
    }
  });
  const maxBinding = Math.min(
    options.maxBindingBytes ?? Infinity,
    device.limits.maxStorageBufferBindingSize,
  );
  return new GpuContext(device, adapter.info, maxBinding, fingerprint(adapter));
}

/** FNV-1a (32-bit, hex) of the adapter's limits and features. */
function fingerprint(adapter: GPUAdapter): string {
  const parts: string[] = [];
  for (const name in adapter.limits) {
    parts.push(`${name}=${adapter.limits[name as keyof GPUSupportedLimits]}`);
  }
  parts.push(...[...adapter.features].sort());
  let hash = 0x811c9dc5;
  for (const char of parts.join(",")) hash = Math.imul(hash ^ char.charCodeAt(0), 0x01000193);
  return (hash >>> 0).toString(16).padStart(8, "0");
}

function strictGpuErrors(): boolean {
  try {
    return Deno.env.get("GEMMA_STRICT_GPU") === "1";
  } catch {
    return false; // no --allow-env
  }
}

export function describe(info: GPUAdapterInfo): string {
  return info.description ||
    [info.vendor, info.architecture, info.device].filter(Boolean).join(" ");
}

export { f16BitsToF32, f32ToF16Bits, roundToF16, toF16, widenF16 } from "./f16.ts";
