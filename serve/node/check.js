#!/usr/bin/env node
'use strict';
// node check.js BUNDLE [--atol 1e-5] [--rtol 1e-4]
//
// Loads BUNDLE/model.onnx in onnxruntime-node (CPU), feeds every test vector
// (test_data_set_K/input_I.npy, named by the manifest), compares each output with output_I.npy
// (count, dtype, shape, then values within atol + rtol * |expected|), prints the largest error,
// and exits 1 on a mismatch (2 on bad usage or an unreadable bundle).

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

function compare(got, want, options) {
  if (got.type !== want.dtype) return { maxAbs: Infinity, problem: `dtype ${got.type}, expected ${want.dtype}` };
  if (got.dims.join(',') !== want.shape.join(',')) {
    return { maxAbs: Infinity, problem: `shape [${got.dims}], expected [${want.shape}]` };
  }
  let maxAbs = 0;
  let outside = 0;
  for (let i = 0; i < want.data.length; i += 1) {
    const expected = Number(want.data[i]);
    const difference = Math.abs(Number(got.data[i]) - expected);
    maxAbs = Math.max(maxAbs, difference);
    if (!(difference <= options.atol + options.rtol * Math.abs(expected))) outside += 1;
  }
  return { maxAbs, problem: outside ? `${outside} values outside tolerance` : '' };
}

async function main() {
  let options;
  let session;
  let manifest;
  try {
    options = parse(process.argv.slice(2));
    manifest = JSON.parse(fs.readFileSync(path.join(options.bundle, 'manifest.json'), 'utf8'));
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
