#!/usr/bin/env bash
# `zoo verify --device all` over the whole zoo on the GPU machine; writes $OUT/gpu_verify_report.txt
# and $OUT/gpu_verify.json (per model: max error of torch CUDA, TorchScript CUDA, ORT CUDA).
#
# The image has torch (CUDA), onnx and a CPU-only onnxruntime, no network. Before this script:
#   1. here: ../shared/tools/ort-gpu-parts.sh   (downloads onnxruntime-gpu, splits it into .ortgpu/part-NN)
#   2. one device call per part, back to back:  carry [".ortgpu/part-NN"]
#        command: mkdir -p /root/ortgpu && cp .ortgpu/part-NN /root/ortgpu/
#   3. the last call carries [".ortgpu/wheel.sha256", ".gpu-wheels"] and runs: bash scripts/gpu_verify.sh
# The pure-Python dependencies come as Python 3.12 wheels in .gpu-wheels/ (see the README), and
# the checkout runs from PYTHONPATH (no pip install of the package there).
set -uo pipefail
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
REPORT="$OUT/gpu_verify_report.txt"
SITE=/tmp/ortgpu-site
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  if [ ! -d "$SITE/onnxruntime" ]; then
    wheel=$(awk '{print $2}' .ortgpu/wheel.sha256)
    (cd /root/ortgpu && cat part-* > "$wheel" && sha256sum -c "$OLDPWD/.ortgpu/wheel.sha256" \
      && python -m pip install -q --no-deps --target "$SITE" "$wheel") || { echo "onnxruntime-gpu install failed"; exit 1; }
  fi
  pip install -q --no-index --find-links .gpu-wheels matplotlib rich typer safetensors pytest 2>&1 | tail -3
  export PYTHONPATH=$SITE:$PWD PYTHONWARNINGS=ignore
  python -c "import torch, onnxruntime as o, sys; print('torch', torch.__version__, '| onnxruntime', o.__version__, o.get_available_providers(), '| python', sys.version.split()[0])"
  echo "== export every model, verify on CPU and CUDA (torch, TorchScript, onnxruntime CUDA provider)"
  python scripts/export_zoo.py --device all --out "$OUT/bundles" --json "$OUT/gpu_verify.json" --markdown "$OUT/gpu_verify.md"
  echo "== CUDA tests (models, training, export)"
  python -m pytest -q -p no:cacheprovider tests/models/test_cuda.py tests/train/test_cuda_training.py tests/export/test_cuda_verify.py 2>&1 | tail -15
} 2>&1 | tee "$REPORT"
