"""Decodes GGUF blocks with llama.cpp's own Python package (the reference for kernels/quant.ts).

Usage: dequantize.py TYPE < blocks > values
TYPE is a ggml type name (Q4_K, IQ4_NL, ...); stdin holds whole blocks back to back, stdout gets
the decoded values as little-endian float32.
"""

import sys

import numpy as np
from gguf import GGMLQuantizationType, quants
from gguf.constants import GGML_QUANT_SIZES

kind = GGMLQuantizationType[sys.argv[1]]
_, block_bytes = GGML_QUANT_SIZES[kind]
blocks = np.frombuffer(sys.stdin.buffer.read(), dtype=np.uint8).reshape(-1, block_bytes)
values = quants.dequantize(blocks, kind).astype("<f4")
sys.stdout.buffer.write(values.tobytes())
