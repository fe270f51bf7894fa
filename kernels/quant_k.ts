// The CPU codecs of the 256-value super-block formats that quantized downloads (ollama, LM
// Studio) mix with q4_k and q6_k: q5_k (block layouts in quant.ts's header). Decoders follow
// llama.cpp's dequantize_row_* operation by operation in f32, so that they give the same bits;
// encoders make a simple one-pass choice of scales (valid blocks with a reasonable error, not
// llama.cpp's error search).

import { affineCode, affineScales, decodeScaleMinBlock, packQ4kScaleMins } from "./quant_fields.ts";
import { type BlockDecoder, type BlockEncoder, setF16 } from "./quant_formats32.ts";

export type SuperBlockType = "q5_k";

export const SUPER_BLOCK_DECODERS: Record<SuperBlockType, BlockDecoder> = {
  q5_k(src, at, out, to) {
    // Like q4_k, with a fifth bit: bit s of qh byte l (at + 16) for value l of sub-block s.
    decodeScaleMinBlock(
      src,
      at,
      out,
      to,
      (s, l) =>
        ((src[at + 48 + 32 * (s >> 1) + l] >> 4 * (s & 1)) & 15) |
        (((src[at + 16 + l] >> s) & 1) << 4),
    );
  },
};

export const SUPER_BLOCK_ENCODERS: Record<SuperBlockType, BlockEncoder> = {
  q5_k(src, from, out, at) {
    const shape = { count: 8, size: 32, levels: 31, codeMax: 63 };
    const { d, dmin, scales, mins } = affineScales(src, from, shape);
    setF16(out, at, d);
    setF16(out, at + 2, dmin);
    packQ4kScaleMins(out, at + 4, scales, mins);
    for (let s = 0; s < 8; s++) {
      const ds = Math.fround(d * scales[s]);
      const dm = Math.fround(dmin * mins[s]);
      for (let l = 0; l < 32; l++) {
        const q = affineCode(src[from + 32 * s + l], ds, dm, 31);
        out[at + 48 + 32 * (s >> 1) + l] |= (q & 15) << (4 * (s & 1));
        out[at + 16 + l] |= (q >> 4) << s;
      }
    }
  },
};
