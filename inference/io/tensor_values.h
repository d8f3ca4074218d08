// Reads a RawTensor's elements as double, honouring dtype, strides and offset (no torch needed).
#pragma once

#include <vector>

#include "raw_tensor.h"

namespace sdgimp::io {

float half_to_float(uint16_t h);
float bf16_to_float(uint16_t b);
std::vector<double> tensor_values(const RawTensor& t);

}  // namespace sdgimp::io
