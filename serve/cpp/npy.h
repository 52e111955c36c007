// Reads NumPy .npy files (format 1.0/2.0/3.0, C order, little-endian) into tensors. ATen alone, not
// torch/torch.h: the loaders are built during the test suite, and the full header costs tens of seconds.
#pragma once

#include <string>

#include <ATen/ATen.h>

namespace zoo {

// The array in `path` as a tensor of the matching dtype (float32/64, int32/64, bool).
// Throws std::runtime_error naming the file on anything else.
at::Tensor read_npy(const std::string& path);

}  // namespace zoo
