// The WGSL decoders of the quantized weight formats, shared by matmul and embed: for each type,
// the source to put in front of a host shader (quant.wgsl's helpers, then quant_<type>.wgsl, or
// for the 32-value nibble formats quant_pairs.wgsl and its scale and code files), and the
// constants the host's dispatch maths needs. A format reads `wScales` and `wHigh` exactly when
// the matrix's chunks have `scales` and `high` (matrix.ts), so hosts bind them when they are
// there (bindings 4 and 5; a format with `high` has `scales` too).

import type { QuantType } from "./quant.ts";
import rowTypes from "./weight_rows.wgsl" with { type: "text" };
import quantHelpers from "./quant.wgsl" with { type: "text" };
import q8_0 from "./quant_q8_0.wgsl" with { type: "text" };
import pairs from "./quant_pairs.wgsl" with { type: "text" };
import pairScales from "./quant_pairs_d.wgsl" with { type: "text" };
import pairScalesMins from "./quant_pairs_dm.wgsl" with { type: "text" };
import codes4 from "./quant_pairs_q4.wgsl" with { type: "text" };
import codes5 from "./quant_pairs_q5.wgsl" with { type: "text" };
import codesNl from "./quant_pairs_nl.wgsl" with { type: "text" };
import q4_k from "./quant_q4_k.wgsl" with { type: "text" };
import q6_k from "./quant_q6_k.wgsl" with { type: "text" };
import q5_k from "./quant_q5_k.wgsl" with { type: "text" };
import q3_k from "./quant_q3_k.wgsl" with { type: "text" };
import q2_k from "./quant_q2_k.wgsl" with { type: "text" };
import iq4xsScales from "./quant_iq4_xs.wgsl" with { type: "text" };
import scaleMin from "./quant_scale_min.wgsl" with { type: "text" };
import twoBit from "./quant_two_bit.wgsl" with { type: "text" };

export interface QuantShader {
  /** WGSL: quant.wgsl's helpers and the format (matmul.wgsl's header lists what it defines). */
  source: string;
  /** Values of a row per unit (the format's UNIT). */
  unit: number;
}

const helpers = rowTypes + quantHelpers;

/** A 32-value nibble format with one scale: w = d·code − zero·d (see quant_pairs.wgsl). */
function scaled(codes: string, zero: number): string {
  return `${helpers + pairs + pairScales + codes}\nconst ZERO = ${zero.toFixed(1)};\n`;
}

export const QUANT_SHADERS: Readonly<Record<QuantType, QuantShader>> = {
  q8_0: { source: helpers + q8_0, unit: 64 },
  q4_0: { source: scaled(codes4, 8), unit: 64 },
  q5_0: { source: scaled(codes5, 16), unit: 64 },
  iq4_nl: { source: scaled(codesNl, 0), unit: 64 },
  q4_1: { source: helpers + pairs + pairScalesMins + codes4, unit: 64 },
  q5_1: { source: helpers + pairs + pairScalesMins + codes5, unit: 64 },
  q4_k: { source: helpers + scaleMin + q4_k, unit: 64 },
  q6_k: { source: helpers + q6_k, unit: 64 },
  q5_k: { source: helpers + scaleMin + q5_k, unit: 64 },
  q3_k: { source: helpers + twoBit + q3_k, unit: 64 },
  q2_k: { source: helpers + twoBit + q2_k, unit: 64 },
  iq4_xs: { source: helpers + pairs + iq4xsScales + codesNl, unit: 64 },
};
