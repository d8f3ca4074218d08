// Writes a flat dict of tensors as torch.save does (the zip container of PyTorch >= 1.6: a protocol-2
// pickle in archive/data.pkl, one stored, 64-byte aligned record per tensor under archive/data/,
// ZIP64 where sizes or offsets pass 4 GiB), the ".ckpt" that A1111's Checkpoint Merger saves and
// torch.load / A1111's safe unpickler read.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "safetensors_writer.h"

namespace sdgimp::io {

// tensors: contiguous little-endian bytes with safetensors dtype names ("F32", "F16", "BF16", "F64",
// "I64", "I32", "I16", "I8", "U8", "BOOL"). The file appears under `path` only once complete.
// force_zip64 writes the ZIP64 records even for a small file (tests use it to cover that path).
// string_lists become entries of the same dict after the tensors: name -> list of str (DeepDanbooru
// keeps its tag names so).
// Throws sdgimp::Error with one sentence when a dtype is unknown, a size disagrees with its shape
// or the file cannot be written.
using StringLists = std::vector<std::pair<std::string, std::vector<std::string>>>;
void write_torch_checkpoint(const std::string& path, const std::vector<RawBytesTensor>& tensors, bool force_zip64 = false,
                            const StringLists& string_lists = {});

}  // namespace sdgimp::io
