// A training checkpoint, for --resume: one safetensors file (written atomically, so a run killed
// at any moment leaves the previous checkpoint or the new one, never a mix) holding the adapter's
// matrices and AdamW moments (LoraTrainer.exportState) and, in its metadata, the step, the
// batches drawn from the data stream so far and the settings the run must resume with.

import {
  CheckpointError,
  readSafetensorsHeader,
  readTensor,
  writeSafetensors,
} from "../safetensors.ts";
import type { LoraSettings } from "../lora.ts";
import { TrainError } from "./trainer.ts";

export const TRAINING_STATE = "training_state.safetensors";

export interface TrainingProgress {
  /** Optimizer steps taken. */
  step: number;
  /** Batches drawn from the data stream (the stream is a function of the seed). */
  batches: number;
  seed: number;
  settings: LoraSettings;
}

export async function saveTrainingState(
  path: string,
  state: Map<string, Float32Array>,
  progress: TrainingProgress,
): Promise<void> {
  const tensors = [...state].map(([name, data]) => ({
    name,
    dtype: "F32" as const,
    shape: [data.length],
    data,
  }));
  await writeSafetensors(path, tensors, { progress: JSON.stringify(progress) });
}

export async function loadTrainingState(
  path: string,
): Promise<{ state: Map<string, Float32Array>; progress: TrainingProgress }> {
  let infos;
  try {
    infos = await readSafetensorsHeader(path);
  } catch (error) {
    if (error instanceof CheckpointError && /no such file/.test(error.message)) {
      throw new TrainError(`nothing to resume: ${path} does not exist`);
    }
    throw new TrainError((error as Error).message);
  }
  const state = new Map<string, Float32Array>();
  for (const info of infos) state.set(info.name, await readTensor(info));
  // The metadata: the JSON header's __metadata__ (readSafetensorsHeader skips it).
  using file = await Deno.open(path);
  const size = new Uint8Array(8);
  await file.read(size);
  const length = Number(new DataView(size.buffer).getBigUint64(0, true));
  const header = new Uint8Array(length);
  let read = 0;
  while (read < length) read += (await file.read(header.subarray(read))) ?? length;
  const metadata = JSON.parse(new TextDecoder().decode(header)).__metadata__;
  if (!metadata?.progress) throw new TrainError(`${path}: not a training state (no progress)`);
  return { state, progress: JSON.parse(metadata.progress) };
}
