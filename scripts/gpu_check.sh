#!/usr/bin/env bash
# The whole GPU check, run on the GPU machine from the repository root; writes $OUT/gpu_report.txt.
# The machine's image has torch (CUDA) but not the pure-Python dependencies: they come as wheels
# in .gpu-wheels/ (pip download --python-version 3.12 ..., see the README), installed offline.
#   usage: bash scripts/gpu_check.sh MODEL    (MODEL: the one trained on CUDA at the end)
set -uo pipefail
MODEL=${1:?usage: bash scripts/gpu_check.sh MODEL}
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
REPORT="$OUT/gpu_report.txt"
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python -c "import torch, sys; print('torch', torch.__version__, 'python', sys.version.split()[0])"
  pip install -q --no-index --find-links .gpu-wheels matplotlib rich typer safetensors pytest 2>&1 | tail -3
  export PYTHONPATH=$PWD PYTHONWARNINGS=ignore
  echo "== every model on CUDA vs the CPU float64 reference"
  python scripts/gpu_check_models.py --out "$OUT/gpu_models_report.json"
  echo "== CUDA tests (models, training)"
  python -m pytest -q -p no:cacheprovider tests/models/test_cuda.py tests/train/test_cuda_training.py 2>&1 | tail -15
  echo "== zoo train $MODEL --device cuda (its default recipe, 3 epochs)"
  time python -m zoo train "$MODEL" --device cuda --epochs 3 --out "$OUT/runs/$MODEL" 2>&1 | grep -E "^epoch|test|saved" | tail -6
} 2>&1 | tee "$REPORT"
