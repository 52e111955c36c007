'use strict';
// Reads NumPy .npy files (C order, little-endian) into { dtype, shape, data } with a typed array.

const fs = require('fs');

const TYPES = {
  '<f4': ['float32', Float32Array],
  '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array],
  '|b1': ['bool', Uint8Array],
};

function readNpy(path) {
  const bytes = fs.readFileSync(path);
  if (bytes.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = bytes[6];
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = bytes.toString('latin1', start, start + headerLength);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !shape || !/'fortran_order':\s*False/.test(header)) {
    throw new Error(`${path}: expected a C-ordered array header, got ${header.trim()}`);
  }
  const type = TYPES[descr[1]];
  if (!type) throw new Error(`${path}: unsupported dtype ${descr[1]}`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = start + headerLength;
  // Copy: a typed array needs an aligned buffer, the file's data starts at any byte.
  const raw = bytes.subarray(offset, offset + count * type[1].BYTES_PER_ELEMENT);
  const data = new type[1](new Uint8Array(raw).buffer);
  if (data.length !== count) throw new Error(`${path}: shorter than its header says`);
  return { dtype: type[0], shape: dims, data };
}

module.exports = { readNpy };
