// The Vulkan drivers a benchmark can run on: "system" (whatever the Vulkan loader finds, here
// Debian 12's lavapipe from Mesa 22.3) and "mesa25" (the private Mesa 25 lavapipe that
// tools/setup_mesa25.sh unpacks). A driver is chosen per process, before its first Vulkan call,
// through the environment: VK_ICD_FILENAMES names the driver's manifest and LD_LIBRARY_PATH puts
// the private libdrm first. Child processes (node-llama-cpp's) inherit both.

export const DRIVERS = ["system", "mesa25"] as const;
export type DriverName = typeof DRIVERS[number];

/** A driver that cannot be used: unknown, or not set up. */
export class DriverError extends Error {
  override name = "DriverError";
}

/** "system,mesa25" → the drivers in that order, each once. */
export function parseDrivers(text: string): DriverName[] {
  const names = text.split(",").map((name) => name.trim());
  if (names.some((name) => name === "")) {
    throw new DriverError(`--drivers "${text}" has an empty name (expected e.g. system,mesa25)`);
  }
  for (const name of names) {
    if (!(DRIVERS as readonly string[]).includes(name)) {
      throw new DriverError(
        `unknown driver "${name}" in --drivers (expected a list of ${DRIVERS.join(", ")})`,
      );
    }
  }
  return [...new Set(names)] as DriverName[];
}

/** Where tools/setup_mesa25.sh unpacks Mesa 25 by default. */
export function mesa25Prefix(): string {
  const cache = Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME")}/.cache`;
  return `${cache}/gemma/mesa25`;
}

/**
 * The environment that selects `driver` in a child process: nothing for "system"; for "mesa25"
 * its manifest and library folder, after checking that the setup finished (its stamp is written
 * last).
 */
export function driverEnv(driver: DriverName, prefix = mesa25Prefix()): Record<string, string> {
  if (driver === "system") return {};
  for (const file of [".setup-stamp", "lvp_icd.json", "lib/libvulkan_lvp.so"]) {
    try {
      Deno.statSync(`${prefix}/${file}`);
    } catch {
      throw new DriverError(
        `Mesa 25 is not set up in ${prefix} (no ${file}): run bash tools/setup_mesa25.sh`,
      );
    }
  }
  const libraryPath = Deno.env.get("LD_LIBRARY_PATH");
  return {
    VK_ICD_FILENAMES: `${prefix}/lvp_icd.json`,
    LD_LIBRARY_PATH: libraryPath ? `${prefix}/lib:${libraryPath}` : `${prefix}/lib`,
  };
}

/** The Vulkan driver library this process has loaded, and the Mesa version written in it. */
export interface LoadedDriver {
  library: string;
  mesa: string | undefined;
}

/**
 * Which Vulkan driver this process really runs on (call it after the WebGPU adapter exists):
 * the libvulkan_*.so files mapped into it, each with the "Mesa x.y.z" its binary carries.
 * The adapter's own description names only LLVM ("llvmpipe (LLVM 15.0.6, 256 bits)"), the same
 * for Mesa 22.3 and 25 here, so it cannot tell them apart.
 */
export function loadedVulkanDrivers(maps = "/proc/self/maps"): LoadedDriver[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(maps);
  } catch (error) {
    // Not Linux. (Deno lets only --allow-all read /proc/self: other errors are the caller's.)
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const libraries = new Set(
    text.split("\n").map((line) => line.split(/\s+/)[5] ?? "").filter((path) =>
      /\/libvulkan_[a-z_]+\.so$/.test(path)
    ),
  );
  return [...libraries].map((library) => ({ library, mesa: mesaVersion(library) }));
}

/** "25.0.7-2~bpo12+1" from the "Mesa 25.0.7-2~bpo12+1" string in a Mesa driver binary. */
export function mesaVersion(library: string): string | undefined {
  try {
    const text = new TextDecoder("latin1").decode(Deno.readFileSync(library));
    return /Mesa (\d+\.\d+\.\d+(?:-[\w.~+]+)?)/.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

/** One line for a report: the lavapipe (or other Vulkan driver) in use and its Mesa version. */
export function describeLoadedDriver(): string {
  let drivers: LoadedDriver[];
  try {
    drivers = loadedVulkanDrivers();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    return "Vulkan driver unknown (only --allow-all may read /proc/self/maps)";
  }
  // The loader opens every installed driver to ask for its devices; the one named by
  // VK_ICD_FILENAMES is then the only one, else lavapipe is the one that offers this adapter.
  const chosen = drivers.find((d) => d.library.endsWith("/libvulkan_lvp.so")) ?? drivers[0];
  if (!chosen) return "Vulkan driver unknown";
  return `Mesa ${chosen.mesa ?? "?"} (${chosen.library})`;
}
