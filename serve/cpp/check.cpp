#include "check.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <limits>
#include <stdexcept>

#include <ATen/core/grad_mode.h>

#include "npy.h"

namespace fs = std::filesystem;

namespace zoo {
namespace {

std::vector<at::Tensor> read_numbered(const fs::path& folder, const std::string& kind) {
  std::vector<at::Tensor> tensors;
  for (int i = 0; fs::exists(folder / (kind + "_" + std::to_string(i) + ".npy")); ++i) {
    tensors.push_back(read_npy((folder / (kind + "_" + std::to_string(i) + ".npy")).string()));
  }
  return tensors;
}

// Element by element: a finite expected value needs a finite one within atol + rtol * |expected|,
// a NaN or inf expected the same one. `difference > tolerance` is false for NaN, so closeness is
// asked as `<=`, which NaN fails. Returns the problem ("" if none) and sets max_abs.
std::string value_problem(const at::Tensor& got, const at::Tensor& want, const Options& options, double& max_abs) {
  const double inf = std::numeric_limits<double>::infinity();
  auto same = got.eq(want).logical_or(got.isnan().logical_and(want.isnan()));
  auto finite = want.isfinite();
  auto difference = at::where(same, at::zeros_like(got), at::nan_to_num((got - want).abs(), inf, inf, inf));
  auto allowed = at::where(finite, options.atol + options.rtol * want.abs(), at::zeros_like(want));
  auto bad = difference.le(allowed).logical_not();
  max_abs = difference.max().item<double>();
  auto non_finite = bad.logical_and(finite).logical_and(got.isfinite().logical_not()).sum().item<int64_t>();
  if (non_finite > 0) return std::to_string(non_finite) + " non-finite values where finite ones are expected";
  auto outside = bad.sum().item<int64_t>();
  return outside > 0 ? std::to_string(outside) + " values outside tolerance" : "";
}

// Prints one line per output; returns false on any mismatch.
bool compare(const std::vector<at::Tensor>& got, const std::vector<at::Tensor>& want, const Options& options,
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
      problem = value_problem(got[i].to(at::kDouble), want[i].to(at::kDouble), options, max_abs);
    }
    worst = std::max(worst, max_abs);
    std::cout << "  output " << i << ": max abs error " << max_abs << (problem.empty() ? " ok" : " MISMATCH: " + problem) << "\n";
    ok = ok && problem.empty();
  }
  return ok;
}

}  // namespace

Options parse_options(int argc, char** argv) {
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

int check_vectors(const Options& options, const Run& run) {
  at::NoGradGuard no_grad;
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
      all_ok = compare(run(inputs), expected, options, worst) && all_ok;
    } catch (const c10::Error& error) {  // c10's message without its backtrace
      std::cout << "  FAILED: " << std::string(error.what_without_backtrace()).substr(0, 300) << "\n";
      all_ok = false;
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

}  // namespace zoo
