#!/usr/bin/env bash
# One short accelerator check: GPU info, `memjax bench` (full ladder, < 5 min on one GPU),
# the multi-device sharding test, then the benchmark table again.
#
#   benchmarks/gpu_check.sh [OUT_DIR]     # writes OUT_DIR/bench.jsonl and bench.txt
#   BENCH_ARGS=--quick benchmarks/gpu_check.sh   # extra `memjax bench` flags (a dry run)
#
# Installs nothing. Python: $PYTHON if set, else the repository's .venv, else the python3
# on PATH; memjax must be importable by it (e.g. `pip install -e .` beforehand).
set -euo pipefail

mkdir -p "${1:-.}"
out_dir=$(cd "${1:-.}" && pwd)  # absolute: resolved before moving to the repository
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ -n "${PYTHON:-}" ]]; then
  py=$PYTHON
elif [[ -x .venv/bin/python ]]; then
  py=.venv/bin/python
elif command -v python3 >/dev/null; then
  py=python3
else
  py=python
fi
if ! "$py" -c "import memjax" 2>/dev/null; then
  echo "gpu_check: memjax is not importable with $py;" \
    "set PYTHON or run 'pip install -e .'" >&2
  exit 1
fi

echo "== nvidia-smi"
if command -v nvidia-smi >/dev/null; then
  timeout 30 nvidia-smi --format=csv \
    --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit \
    || echo "(nvidia-smi query failed)"
  timeout 30 nvidia-smi || true
else
  echo "(nvidia-smi not found)"
fi

echo "== jax"
timeout 120 "$py" -c \
  "import jax; print(jax.__version__, jax.default_backend(), jax.devices())"

echo "== memjax bench (full ladder)"
status=0
# stderr shows progress; stdout (the table) is kept for the end.
# shellcheck disable=SC2086  # BENCH_ARGS is a list of flags
timeout 330 "$py" -m memjax.cli bench --out "$out_dir/bench.jsonl" ${BENCH_ARGS:-} \
  | tee "$out_dir/bench.txt" || status=$?

echo "== pytest tests/test_sharding.py"
timeout 300 "$py" -m pytest -q tests/test_sharding.py || status=$?

echo "== memjax bench table"
cat "$out_dir/bench.txt"
exit "$status"
