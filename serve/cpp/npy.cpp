#include "npy.h"

#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace zoo {
namespace {

std::runtime_error npy_error(const std::string& path, const std::string& problem) {
  return std::runtime_error(path + ": " + problem);
}

// The value after `key` in the header dict, e.g. "'<f4'" for 'descr'.
std::string header_field(const std::string& header, const std::string& key, const std::string& path) {
  auto at = header.find("'" + key + "'");
  if (at == std::string::npos) throw npy_error(path, "header has no '" + key + "'");
  at = header.find(':', at);
  auto end = key == "shape" ? header.find(')', at) + 1 : header.find(',', at);
  auto value = header.substr(at + 1, end - at - 1);
  value.erase(0, value.find_first_not_of(" "));
  return value;
}

at::ScalarType dtype_of(const std::string& descr, const std::string& path) {
  if (descr == "'<f4'") return at::kFloat;
  if (descr == "'<f8'") return at::kDouble;
  if (descr == "'<i8'") return at::kLong;
  if (descr == "'<i4'") return at::kInt;
  if (descr == "'|b1'") return at::kBool;
  throw npy_error(path, "unsupported dtype " + descr);
}

std::vector<int64_t> shape_of(const std::string& text) {
  std::vector<int64_t> shape;
  std::string digits;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      digits += c;
    } else if (!digits.empty()) {
      shape.push_back(std::stoll(digits));
      digits.clear();
    }
  }
  return shape;
}

}  // namespace

at::Tensor read_npy(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw npy_error(path, "cannot be opened");
  char magic[8];
  file.read(magic, 8);
  if (!file || std::string(magic, 6) != "\x93NUMPY") throw npy_error(path, "is not a .npy file");
  uint32_t header_length = 0;
  if (magic[6] == 1) {
    uint16_t length16 = 0;
    file.read(reinterpret_cast<char*>(&length16), 2);
    header_length = length16;
  } else {
    file.read(reinterpret_cast<char*>(&header_length), 4);
  }
  std::string header(header_length, ' ');
  file.read(header.data(), header_length);
  if (header_field(header, "fortran_order", path).rfind("False", 0) != 0) {
    throw npy_error(path, "is in Fortran order; save it C-contiguous");
  }
  auto dtype = dtype_of(header_field(header, "descr", path), path);
  auto shape = shape_of(header_field(header, "shape", path));
  auto tensor = at::empty(shape, at::TensorOptions().dtype(dtype));
  file.read(static_cast<char*>(tensor.data_ptr()), tensor.numel() * tensor.element_size());
  if (!file) throw npy_error(path, "is shorter than its header says");
  return tensor;
}

}  // namespace zoo
