// zoo_check BUNDLE [--atol 1e-5] [--rtol 1e-4]
//
// Loads BUNDLE/model.pt with libtorch, feeds every test vector (test_data_set_K/input_I.npy) to
// forward, compares each output with output_I.npy (count, dtype, shape, then values within
// atol + rtol * |expected|; NaN or inf where a finite value is expected is a mismatch), prints
// the largest error, and exits 1 on a mismatch (2 on bad usage or an unreadable bundle). The
// forward schema says how the flat inputs nest: a Tuple[Tensor, Tensor] argument (an LSTM
// state) takes the next two files.
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <torch/script.h>

#include "check.h"

namespace fs = std::filesystem;

namespace {

// The flat tensors nested as forward's arguments say (tensors, and tuples of tensors).
std::vector<torch::jit::IValue> arguments(const torch::jit::Module& module, const std::vector<torch::Tensor>& flat) {
  const auto& schema = module.get_method("forward").function().getSchema();
  std::vector<torch::jit::IValue> args;
  size_t next = 0;
  for (size_t i = 1; i < schema.arguments().size() && next < flat.size(); ++i) {  // 0 is self
    auto type = schema.arguments()[i].type();
    if (auto optional = type->cast<c10::OptionalType>()) type = optional->getElementType();
    if (auto tuple = type->cast<c10::TupleType>()) {
      std::vector<torch::jit::IValue> items;
      for (size_t k = 0; k < tuple->elements().size(); ++k) items.emplace_back(flat.at(next++));
      args.emplace_back(c10::ivalue::Tuple::create(std::move(items)));
    } else {
      args.emplace_back(flat.at(next++));
    }
  }
  if (next != flat.size()) throw std::runtime_error("forward takes fewer inputs than the test vector holds");
  return args;
}

void flatten(const torch::jit::IValue& value, std::vector<torch::Tensor>& out) {
  if (value.isTensor()) {
    out.push_back(value.toTensor());
  } else if (value.isTuple()) {
    for (const auto& item : value.toTupleRef().elements()) flatten(item, out);
  } else {
    throw std::runtime_error("forward returned something other than tensors and tuples");
  }
}

}  // namespace

int main(int argc, char** argv) {
  zoo::Options options;
  torch::jit::Module module;
  try {
    options = zoo::parse_options(argc, argv);
    module = torch::jit::load((fs::path(options.bundle) / "model.pt").string());
    module.eval();
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\nusage: zoo_check BUNDLE [--atol 1e-5] [--rtol 1e-4]\n";
    return 2;
  }
  return zoo::check_vectors(options, [&module](const std::vector<torch::Tensor>& inputs) {
    std::vector<torch::Tensor> got;
    flatten(module.forward(arguments(module, inputs)), got);
    return got;
  });
}
