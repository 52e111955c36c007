// Reads NumPy .npy files (format 1.0/2.0/3.0, C order, little-endian) into torch tensors.
#pragma once

#include <string>

#include <torch/torch.h>

namespace zoo {

// The array in `path` as a tensor of the matching dtype (float32/64, int32/64, bool).
// Throws std::runtime_error naming the file on anything else.
torch::Tensor read_npy(const std::string& path);

}  // namespace zoo
