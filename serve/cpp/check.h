// What the C++ loaders share: their command line and the run over a bundle's test vectors
// (test_data_set_K/input_I.npy in, output_I.npy expected), compared count, dtype, shape, then
// values within atol + rtol * |expected|. Each loader only says how its model file runs. ATen alone
// (as npy.h): torch/torch.h would add tens of seconds to every build.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace zoo {

struct Options {
  std::string bundle;
  double atol = 1e-5;
  double rtol = 1e-4;
};

// BUNDLE [--atol X] [--rtol Y]; throws std::invalid_argument on anything else.
Options parse_options(int argc, char** argv);

// The flat inputs of one test vector -> the flat outputs.
using Run = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)>;

// Runs every test vector, prints one line per output and a last line ("passed: N test vectors,
// max abs error E" or "FAILED: ..."), and returns the exit code: 0 all match, 1 a mismatch or a
// vector that failed to run, 2 no test vectors.
int check_vectors(const Options& options, const Run& run);

}  // namespace zoo
