// zoo_check BUNDLE [--atol 1e-5] [--rtol 1e-4]
//
// Loads BUNDLE/model.pt with libtorch, feeds every test vector (test_data_set_K/input_I.npy) to
// forward, compares each output with output_I.npy (count, dtype, shape, then values within
// atol + rtol * |expected|; NaN or inf where a finite value is expected is a mismatch), prints
// the largest error, and exits 1 on a mismatch (2 on bad usage or an unreadable bundle). The
// forward schema says how the flat inputs nest: a Tuple[Tensor, Tensor] argument (an LSTM
// state) takes the next two files.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include <torch/script.h>

#include "npy.h"

namespace fs = std::filesystem;

namespace {

struct Options {
  std::string bundle;
  double atol = 1e-5;
  double rtol = 1e-4;
};

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if ((arg == "--atol" || arg == "--rtol") && i + 1 < argc) {
      (arg == "--atol" ? options.atol : options.rtol) = std::stod(argv[++i]);
    } else if (options.bundle.empty() && arg.rfind("--", 0) != 0) {
      options.bundle = arg;
    } else {
      throw std::invalid_argument("unknown argument " + arg);
    }
  }
  if (options.bundle.empty()) throw std::invalid_argument("give the bundle directory");
  return options;
}

std::vector<torch::Tensor> read_numbered(const fs::path& folder, const std::string& kind) {
  std::vector<torch::Tensor> tensors;
  for (int i = 0; fs::exists(folder / (kind + "_" + std::to_string(i) + ".npy")); ++i) {
    tensors.push_back(zoo::read_npy((folder / (kind + "_" + std::to_string(i) + ".npy")).string()));
  }
  return tensors;
}

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

// Element by element: a finite expected value needs a finite one within atol + rtol * |expected|,
// a NaN or inf expected the same one. `difference > tolerance` is false for NaN, so closeness is
// asked as `<=`, which NaN fails. Returns the problem ("" if none) and sets max_abs.
std::string value_problem(const torch::Tensor& got, const torch::Tensor& want, const Options& options, double& max_abs) {
  const double inf = std::numeric_limits<double>::infinity();
  auto same = got.eq(want).logical_or(got.isnan().logical_and(want.isnan()));
  auto finite = want.isfinite();
  auto difference = torch::where(same, torch::zeros_like(got), torch::nan_to_num((got - want).abs(), inf, inf, inf));
  auto allowed = torch::where(finite, options.atol + options.rtol * want.abs(), torch::zeros_like(want));
  auto bad = difference.le(allowed).logical_not();
  max_abs = difference.max().item<double>();
  auto non_finite = bad.logical_and(finite).logical_and(got.isfinite().logical_not()).sum().item<int64_t>();
  if (non_finite > 0) return std::to_string(non_finite) + " non-finite values where finite ones are expected";
  auto outside = bad.sum().item<int64_t>();
  return outside > 0 ? std::to_string(outside) + " values outside tolerance" : "";
}

// Prints one line per output; returns false on any mismatch.
bool compare(const std::vector<torch::Tensor>& got, const std::vector<torch::Tensor>& want, const Options& options,
             double& worst) {
  if (got.size() != want.size()) {
    std::cout << "  " << got.size() << " outputs, expected " << want.size() << "\n";
    return false;
  }
  bool ok = true;
  for (size_t i = 0; i < got.size(); ++i) {
    std::string problem;
    double max_abs = 0.0;
    if (got[i].scalar_type() != want[i].scalar_type()) {
      problem = std::string("dtype ") + c10::toString(got[i].scalar_type()) + ", expected " + c10::toString(want[i].scalar_type());
    } else if (got[i].sizes() != want[i].sizes()) {
      problem = "shape differs from the expected one";
    } else if (want[i].numel() > 0) {
      problem = value_problem(got[i].to(torch::kFloat64), want[i].to(torch::kFloat64), options, max_abs);
    }
    worst = std::max(worst, max_abs);
    std::cout << "  output " << i << ": max abs error " << max_abs << (problem.empty() ? " ok" : " MISMATCH: " + problem) << "\n";
    ok = ok && problem.empty();
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  torch::jit::Module module;
  try {
    options = parse(argc, argv);
    module = torch::jit::load((fs::path(options.bundle) / "model.pt").string());
    module.eval();
  } catch (const std::exception& error) {
    std::cerr << "error: " << error.what() << "\nusage: zoo_check BUNDLE [--atol 1e-5] [--rtol 1e-4]\n";
    return 2;
  }
  torch::NoGradGuard no_grad;
  bool all_ok = true;
  int vectors = 0;
  double worst = 0.0;
  for (int k = 0;; ++k) {
    auto folder = fs::path(options.bundle) / ("test_data_set_" + std::to_string(k));
    if (!fs::exists(folder)) break;
    ++vectors;
    std::cout << folder.filename().string() << "\n";
    try {
      auto inputs = read_numbered(folder, "input");
      auto expected = read_numbered(folder, "output");
      std::vector<torch::Tensor> got;
      flatten(module.forward(arguments(module, inputs)), got);
      all_ok = compare(got, expected, options, worst) && all_ok;
    } catch (const std::exception& error) {
      std::cout << "  FAILED: " << std::string(error.what()).substr(0, 300) << "\n";
      all_ok = false;
    }
  }
  if (vectors == 0) {
    std::cerr << "error: " << options.bundle << " has no test_data_set_0; export it with `zoo export`\n";
    return 2;
  }
  std::cout << (all_ok ? "passed" : "FAILED") << ": " << vectors << " test vectors, max abs error " << worst << "\n";
  return all_ok ? 0 : 1;
}
