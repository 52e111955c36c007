#!/usr/bin/env node
'use strict';
// node check.js BUNDLE [--atol 1e-5] [--rtol 1e-4]
//
// Loads BUNDLE/model.onnx in onnxruntime-node (CPU), feeds every test vector
// (test_data_set_K/input_I.npy, named by the manifest), compares each output with output_I.npy
// (count, dtype, shape, then values within atol + rtol * |expected|; NaN or inf where a finite
// value is expected is a mismatch), prints the largest error, and exits 1 on a mismatch (2 on
// bad usage or an unreadable bundle).

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { readNpy } = require('./npy');

function parse(argv) {
  const options = { bundle: null, atol: 1e-5, rtol: 1e-4 };
  for (let i = 0; i < argv.length; i += 1) {
    if ((argv[i] === '--atol' || argv[i] === '--rtol') && i + 1 < argv.length) {
      options[argv[i].slice(2)] = Number(argv[++i]);
    } else if (!options.bundle && !argv[i].startsWith('--')) {
      options.bundle = argv[i];
    } else {
      throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!options.bundle) throw new Error('give the bundle directory');
  return options;
}

function readNumbered(folder, kind) {
  const arrays = [];
  for (let i = 0; fs.existsSync(path.join(folder, `${kind}_${i}.npy`)); i += 1) {
    arrays.push(readNpy(path.join(folder, `${kind}_${i}.npy`)));
  }
  return arrays;
}

// Element by element: a finite expected value needs a finite one within atol + rtol * |expected|,
// a NaN or inf expected the same one. `difference > tolerance` is false for NaN, so closeness is
// asked as `<=`, which NaN fails.
function compare(got, want, options) {
  if (got.type !== want.dtype) return { maxAbs: Infinity, problem: `dtype ${got.type}, expected ${want.dtype}` };
  if (got.dims.join(',') !== want.shape.join(',')) {
    return { maxAbs: Infinity, problem: `shape [${got.dims}], expected [${want.shape}]` };
  }
  let maxAbs = 0;
  let outside = 0;
  let nonFinite = 0;
  for (let i = 0; i < want.data.length; i += 1) {
    const expected = Number(want.data[i]);
    const value = Number(got.data[i]);
    if (value === expected || (Number.isNaN(value) && Number.isNaN(expected))) continue;
    const difference = Number.isNaN(value - expected) ? Infinity : Math.abs(value - expected);
    maxAbs = Math.max(maxAbs, difference);
    const allowed = Number.isFinite(expected) ? options.atol + options.rtol * Math.abs(expected) : 0;
    if (!(difference <= allowed)) {
      outside += 1;
      if (Number.isFinite(expected) && !Number.isFinite(value)) nonFinite += 1;
    }
  }
  if (nonFinite) return { maxAbs, problem: `${nonFinite} non-finite values where finite ones are expected` };
  return { maxAbs, problem: outside ? `${outside} values outside tolerance` : '' };
}

// The manifest names each test vector folder; only test_data_set_K, directly in the bundle, is
// read, so a manifest cannot point this loader outside the bundle (`zoo verify` and `zoo serve`
// refuse such a bundle too, see export/files.py).
const VECTOR_DIR = /^test_data_set_[0-9]+$/;

async function main() {
  let options;
  let session;
  let manifest;
  try {
    options = parse(process.argv.slice(2));
    manifest = JSON.parse(fs.readFileSync(path.join(options.bundle, 'manifest.json'), 'utf8'));
    const bad = manifest.test_vectors.find((entry) => !VECTOR_DIR.test(String(entry.dir)));
    if (bad) throw new Error(`the manifest names test vector folder ${JSON.stringify(bad.dir)}; only test_data_set_K inside the bundle is read`);
    session = await ort.InferenceSession.create(path.join(options.bundle, 'model.onnx'), {
      executionProviders: ['cpu'],
    });
  } catch (error) {
    console.error(`error: ${error.message}\nusage: node check.js BUNDLE [--atol 1e-5] [--rtol 1e-4]`);
    return 2;
  }
  const inputNames = manifest.graphs.forward.inputs.map((t) => t.name);
  const outputNames = manifest.graphs.forward.outputs.map((t) => t.name);
  let allOk = true;
  let worst = 0;
  for (const entry of manifest.test_vectors) {
    const folder = path.join(options.bundle, entry.dir);
    console.log(`${entry.dir} (${entry.case})`);
    try {
      const inputs = readNumbered(folder, 'input');
      const expected = readNumbered(folder, 'output');
      const feeds = {};
      inputs.forEach((array, i) => {
        feeds[inputNames[i]] = new ort.Tensor(array.dtype, array.data, array.shape);
      });
      const results = await session.run(feeds);
      if (expected.length !== outputNames.length) throw new Error(`${expected.length} expected outputs, the graph has ${outputNames.length}`);
      outputNames.forEach((name, i) => {
        const { maxAbs, problem } = compare(results[name], expected[i], options);
        worst = Math.max(worst, maxAbs);
        console.log(`  ${name}: max abs error ${maxAbs.toExponential(2)} ${problem ? `MISMATCH: ${problem}` : 'ok'}`);
        allOk = allOk && !problem;
      });
    } catch (error) {
      console.log(`  FAILED: ${String(error.message).slice(0, 300)}`);
      allOk = false;
    }
  }
  if (!manifest.test_vectors.length) {
    console.error(`error: ${options.bundle} has no test vectors; export it with \`zoo export\``);
    return 2;
  }
  console.log(`${allOk ? 'passed' : 'FAILED'}: ${manifest.test_vectors.length} test vectors, max abs error ${worst.toExponential(2)}`);
  return allOk ? 0 : 1;
}

main().then((code) => { process.exitCode = code; });
