#!/usr/bin/env python3
"""Writes CUDA's own torch.randn for a list of seeds and shapes, in the order A1111 draws them
(torch.manual_seed(seed), then successive torch.randn(shape, device='cuda') calls), so that the
engine's "NV" noise source (a CPU emulation of that generator) can be compared with it on any
machine afterwards: `gimp-diffusion-cli bench --what nv-noise --reference OUT.json`.
  python3 cuda_randn_dump.py OUT.json   (writes OUT.json and OUT.bin, float32 little-endian)"""
import json
import sys

import torch

CASES = [  # seed, shape, successive draws
    (0, [1, 4, 96, 96], 3),
    (1, [1, 4, 64, 64], 2),
    (42, [1, 4, 64, 64], 1),
    (3331645590, [1, 4, 96, 96], 2),
    ((1 << 32) + 5, [1, 4, 64, 96], 2),
    (123456789, [2, 4, 64, 64], 1),
    (7, [1, 4, 75, 57], 2),
    (8, [1, 3, 5, 7], 3),
    (9, [1, 4, 8, 8], 3),
]

out = sys.argv[1]
index, blobs, offset = [], [], 0
for seed, shape, draws in CASES:
    torch.manual_seed(seed)
    for draw in range(draws):
        x = torch.randn(shape, device="cuda").float().cpu().contiguous()
        index.append({"seed": seed, "shape": shape, "draw": draw, "offset": offset})
        blobs.append(x.numpy().astype("<f4").tobytes())
        offset += x.numel()
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "cases": index}, f)
with open(out[:-5] + ".bin" if out.endswith(".json") else out + ".bin", "wb") as f:
    for b in blobs:
        f.write(b)
print("wrote", len(index), "draws,", offset, "floats")
