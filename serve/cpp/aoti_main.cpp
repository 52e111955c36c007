// zoo_aoti_check BUNDLE [--atol 1e-5] [--rtol 1e-4]
//
// Loads BUNDLE/model.aoti.pt2 (`zoo export --format aoti`: the torch.export program compiled by
// AOTInductor into C++ shared objects) with torch::inductor::AOTIModelPackageLoader, feeds every
// test vector to it and compares the outputs as zoo_check does (check.h): prints the largest
// error, exits 1 on a mismatch, 2 on bad usage, a bundle without the package or one that does
// not load. The package takes the graph's inputs flat, in the order of the input_I.npy files,
// and returns its outputs flat, so no schema is needed to nest them. The package does not check
// their shapes or dtypes (export/formats/aoti.py says why its optional checks stay off): the
// vectors are the bundle's own, which `zoo verify` checks against the manifest's sha256s.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include "check.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  zoo::Options options;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
  try {
    options = zoo::parse_options(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\nusage: zoo_aoti_check BUNDLE [--atol 1e-5] [--rtol 1e-4]\n";
    return 2;
  }
  auto package = fs::path(options.bundle) / "model.aoti.pt2";
  if (!fs::exists(package)) {
    std::cerr << "error: " << options.bundle << " has no model.aoti.pt2; export it with `zoo export MODEL --format aoti`\n";
    return 2;
  }
  try {
    loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(package.string());
  } catch (const c10::Error& error) {  // one line: c10's message without its backtrace
    std::cerr << "error: " << package.string() << " does not load: " << error.what_without_backtrace() << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "error: " << package.string() << " does not load: " << error.what() << "\n";
    return 2;
  }
  return zoo::check_vectors(options, [&loader](const std::vector<at::Tensor>& inputs) { return loader->run(inputs); });
}
