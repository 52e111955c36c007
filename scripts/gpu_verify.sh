#!/usr/bin/env bash
# `zoo verify --device all` over the whole zoo on the GPU machine; writes $OUT/gpu_verify_report.txt
# and $OUT/gpu_verify.json (per model: max error of torch CUDA, TorchScript CUDA, ORT CUDA).
#
# The image has torch (CUDA), onnx and a CPU-only onnxruntime, no network. Before this script:
#   1. here: ../shared/tools/ort-gpu-parts.sh   (downloads onnxruntime-gpu, splits it into .ortgpu/part-NN)
#   2. one device call per part, back to back:  carry [".ortgpu/part-NN"]
#        command: mkdir -p /root/ortgpu && cp .ortgpu/part-NN /root/ortgpu/
#   3. the last call carries [".ortgpu/wheel.sha256"] and runs: bash scripts/gpu_verify.sh
# Fewer calls: unpack the wheel, re-pack it as tar.xz (about half its size), split that into
# .ortgpu/xz-NN and record the sha256 of the whole in .ortgpu/xz.sha256; carry those instead
# (copied to /root/ortgpu/xz-NN). The image has the pure-Python dependencies; .gpu-wheels/ (Python
# 3.12 wheels), if present, adds any it lacks. The checkout runs from PYTHONPATH (no pip install).
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
REPORT="$OUT/gpu_verify_report.txt"
SITE=/tmp/ortgpu-site
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  if [ ! -d "$SITE/onnxruntime" ]; then
    mkdir -p "$SITE"
    if ls /root/ortgpu/xz-* >/dev/null 2>&1; then
      # the unpacked wheel, re-packed as tar.xz (about half the wheel's size: fewer calls to carry)
      (cd /root/ortgpu && cat xz-* | sha256sum | awk '{print $1}' | grep -qx "$(cat "$OLDPWD/.ortgpu/xz.sha256")" \
        && cat xz-* | xz -d -T0 | tar x -C "$SITE") || { echo "onnxruntime-gpu unpack failed"; exit 1; }
    else
      wheel=$(awk '{print $2}' .ortgpu/wheel.sha256)
      (cd /root/ortgpu && cat part-* > "$wheel" && sha256sum -c "$OLDPWD/.ortgpu/wheel.sha256" \
        && python -m pip install -q --no-deps --target "$SITE" "$wheel") || { echo "onnxruntime-gpu install failed"; exit 1; }
    fi
  fi
  # the image has matplotlib, rich, typer, safetensors and pytest; .gpu-wheels only adds missing ones
  if [ -d .gpu-wheels ]; then
    pip install -q --no-index --find-links .gpu-wheels matplotlib rich typer safetensors pytest 2>&1 | tail -3
  fi
  export PYTHONPATH=$SITE:$PWD PYTHONWARNINGS=ignore
  python3 -c "import torch, onnxruntime as o, sys; print('torch', torch.__version__, '| onnxruntime', o.__version__, o.get_available_providers(), '| python', sys.version.split()[0])"
  echo "== CUDA tests (models, training, export)"
  python3 -m pytest -q -p no:cacheprovider tests/models/test_cuda.py tests/train/test_cuda_training.py tests/export/test_cuda_verify.py 2>&1 | tail -15
  echo "== export every model, verify on CPU and CUDA (torch, TorchScript, onnxruntime CUDA provider)"
  python3 scripts/export_zoo.py --device all --no-aoti --out /tmp/gpu-bundles --json "$OUT/gpu_verify.json" --markdown "$OUT/gpu_verify.md"
} 2>&1 | tee "$REPORT"
