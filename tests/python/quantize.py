"""Encodes values into GGUF blocks with llama.cpp's own Python package (the reference for the
quantizers of kernels/quant.ts that round as llama.cpp's reference quantizers do).

Usage: quantize.py TYPE < values > blocks
TYPE is a ggml type name (Q8_0, Q5_1, ...); stdin holds little-endian float32 values, a whole
number of blocks; stdout gets the blocks back to back.
"""

import sys

import numpy as np
from gguf import GGMLQuantizationType, quants

kind = GGMLQuantizationType[sys.argv[1]]
values = np.frombuffer(sys.stdin.buffer.read(), dtype="<f4").reshape(1, -1)
sys.stdout.buffer.write(quants.quantize(values, kind).tobytes())
