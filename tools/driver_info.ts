// Which Vulkan driver Deno's WebGPU and llama.cpp's Vulkan backend run on in this environment
// (tools/setup_mesa25.sh --verify runs it under the private Mesa 25): the adapter each sees and
// the driver library each process mapped, with the Mesa version in it.
//   ./deno run -A tools/driver_info.ts   (-A: only --allow-all may read /proc/self/maps)

import { describe } from "../kernels/gpu.ts";
import { describeLoadedDriver } from "./vulkan_drivers.ts";

const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
if (!adapter) {
  console.error("driver_info: no WebGPU adapter");
  Deno.exit(1);
}
console.log(`deno webgpu: ${describe(adapter.info)}; ${describeLoadedDriver()}`);

const out = await new Deno.Command("node", {
  args: [new URL("../tests/llama/driver_info.mjs", import.meta.url).pathname],
  env: { GGML_VK_VISIBLE_DEVICES: "0" },
  stdout: "piped",
  stderr: "piped",
}).output();
if (out.code !== 0) {
  const error = new TextDecoder().decode(out.stderr).trim().split("\n").pop();
  console.error(`driver_info: llama.cpp's Vulkan backend failed: ${error}`);
  Deno.exit(1);
}
const info = JSON.parse(new TextDecoder().decode(out.stdout));
// deno-lint-ignore no-explicit-any
const lvp = info.drivers.find((d: any) => d.library.endsWith("/libvulkan_lvp.so")) ??
  info.drivers[0];
console.log(
  `llama.cpp ${info.gpu}: ${info.devices.join(", ") || "no device"}; ` +
    (lvp ? `Mesa ${lvp.mesa ?? "?"} (${lvp.library})` : "Vulkan driver unknown"),
);
