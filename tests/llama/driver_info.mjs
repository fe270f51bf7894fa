// Prints, as one JSON line, the Vulkan devices llama.cpp (node-llama-cpp's prebuilt Vulkan build)
// sees and the libvulkan_*.so driver files this process mapped, each with the Mesa version its
// binary carries: the proof of which lavapipe llama.cpp runs on (VK_ICD_FILENAMES selects it).
import { readFileSync } from "node:fs";
import { getLlama } from "node-llama-cpp";

const llama = await getLlama({ build: "never", gpu: "vulkan", logLevel: "error" });
const devices = await llama.getGpuDeviceNames();
const libraries = new Set(
  readFileSync("/proc/self/maps", "latin1").split("\n").map((line) => line.split(/\s+/)[5] ?? "")
    .filter((path) => /\/libvulkan_[a-z_]+\.so$/.test(path)),
);
const drivers = [...libraries].map((library) => ({
  library,
  mesa: /Mesa (\d+\.\d+\.\d+(?:-[\w.~+]+)?)/.exec(readFileSync(library, "latin1"))?.[1],
}));
process.stdout.write(JSON.stringify({ gpu: llama.gpu, devices, drivers }) + "\n");
await llama.dispose();
