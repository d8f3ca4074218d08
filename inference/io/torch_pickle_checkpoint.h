// Tensors from files written by torch.save: the zip archive (torch >= 1.6) and the legacy
// stream of consecutive pickles. Both go through the restricted unpickler.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "raw_tensor.h"

namespace sdgimp::io {

struct PickleCheckpoint {
    TensorMap tensors;        // after unwrapping state_dict / params_ema / params
    std::string wrapper;      // which wrapper key held them ("" = top level)
    std::string container;    // "zip" or "legacy"
};

PickleCheckpoint read_torch_zip(std::shared_ptr<const MappedFile> file);
PickleCheckpoint read_torch_legacy(std::shared_ptr<const MappedFile> file);

// A plain value of a torch.save file's object (a hypernetwork's settings).
struct PlainValue {
    enum class Kind { kNone, kBool, kInt, kFloat, kStr, kNumbers, kOther };
    Kind kind = Kind::kOther;
    double number = 0;            // bool, int, float
    std::string text;             // str
    std::vector<double> numbers;  // a list or tuple of numbers
};

// A torch.save file read whole, for files whose tensors sit in nested containers: every tensor and
// plain value by its dotted path through dictionary keys (strings or integers) and list positions,
// e.g. a hypernetwork's "768.0.linear.0.weight" and "layer_structure".
struct PickleTree {
    TensorMap tensors;
    std::map<std::string, PlainValue> values;
};

PickleTree read_torch_tree(std::shared_ptr<const MappedFile> file);  // zip or legacy container

// True when the file starts with the legacy magic-number pickle.
bool looks_like_torch_legacy(const MappedFile& file);

}  // namespace sdgimp::io
