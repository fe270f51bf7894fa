// finetune-lora's progress bar on stderr (only on a terminal): steps done, the last step's loss,
// seconds per step and the time left, redrawn in place on one line; cleared before a report line.

/** "[#####-----] 12/100 steps, loss 2.345, 1.9 s/step, ETA 2m47s" (`width` characters of bar). */
export function progressBarText(
  done: number,
  total: number,
  secondsPerStep: number | undefined,
  loss?: number,
  width = 24,
): string {
  const filled = Math.round(width * Math.min(done / Math.max(total, 1), 1));
  const parts = [`[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total} steps`];
  if (loss !== undefined) parts.push(`loss ${loss.toFixed(3)}`);
  if (secondsPerStep !== undefined) {
    parts.push(
      `${secondsPerStep.toFixed(1)} s/step`,
      `ETA ${duration(secondsPerStep * (total - done))}`,
    );
  }
  return parts.join(", ");
}

/** 3725 → "1h2m5s", 95 → "1m35s", 7 → "7s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h${m}m${s % 60}s`;
  return m > 0 ? `${m}m${s % 60}s` : `${s}s`;
}

/** A bar from step `startStep` (a resumed run) to `total`. */
export function trainingProgressBar(total: number, startStep: number) {
  const encoder = new TextEncoder();
  const start = performance.now();
  let drawn = false;
  const write = (text: string) => Deno.stderr.writeSync(encoder.encode(text));
  return {
    update(step: number, loss?: number) {
      const steps = step - startStep;
      const seconds = (performance.now() - start) / 1000;
      write(
        `\r\x1b[K${progressBarText(step, total, steps > 0 ? seconds / steps : undefined, loss)}`,
      );
      drawn = true;
    },
    clear() {
      if (drawn) write("\r\x1b[K");
      drawn = false;
    },
  };
}
