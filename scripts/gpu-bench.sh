#!/usr/bin/env bash
# Scoring benchmark on a GPU host: installs the CUDA execution provider's libraries (not in the npm
# package), checks for a Vulkan driver (WebGPU), then runs bench:score on the MiniLM-L6-shaped model with
# the GPU providers first. bench:score prints the execution provider the service reports, the batch sizes
# it formed (/metrics) and throughput/latency at each client count, next to raw onnxruntime on the same
# provider list. Usage, after `npm ci` on the GPU host:  scripts/gpu-bench.sh [extra bench:score args]
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
  echo "warning: nvidia-smi not found; the CUDA provider will fail and the benchmark falls back" >&2
fi
if [ ! -e node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so ]; then
  echo "== installing the CUDA 12 execution provider for onnxruntime-node"
  ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js
fi
if ldconfig -p 2>/dev/null | grep -q libvulkan.so.1; then
  echo "== Vulkan loader present: WebGPU is a fallback if CUDA cannot start"
else
  echo "== no Vulkan loader: WebGPU will be skipped (apt-get install libvulkan1 for it)"
fi

export EXECUTION_PROVIDERS="${EXECUTION_PROVIDERS:-cuda,webgpu,cpu}"
# A GPU wants bigger batches than a CPU: allow up to 128 and give them a few ms to fill.
export BATCH_MAX_SIZE="${BATCH_MAX_SIZE:-128}" BATCH_MAX_WAIT_MS="${BATCH_MAX_WAIT_MS:-4}"
npm run bench:score -- --models minilm --no-peer --clients 1,8,32,64,128 "$@"
