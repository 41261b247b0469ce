#!/usr/bin/env bash
# The GPU figures of BENCHMARKS.md in one run, most important first (a run cut short still says
# what it got): which CUDA libraries are found, `doctor` on CUDA and on TensorRT, our session
# throughput on the two-view ConvNeXt-T at 224 px (fp32 and fp16, batch 1 and 64, with cuDNN's
# NCHW and NHWC layouts), PyTorch on the same GPU for the ratio, then `predict` on the sample
# and the end-to-end pipeline with the shipped model.
#
#   scripts/bench-gpu.sh [BINARY] [LOG_DIR]     (BINARY: target/release/mousexray, LOG_DIR: gpu-bench)
#
# Needs ONNX Runtime's GPU build (`make setup-gpu`, or ORT_DYLIB_PATH), the NVIDIA driver, CUDA 13
# and cuDNN 9; torch and timm for the PyTorch rows (skipped without them). SECS sets the seconds
# per measurement (default 4).
set -u
bin=${1:-target/release/mousexray}
log=${2:-gpu-bench}
secs=${SECS:-4}
mkdir -p "$log"
saliency=$(mktemp -d)  # 86 overlays: kept out of LOG_DIR, which travels back from GPU machines

# CUDA and cuDNN can sit in the CUDA toolkit, the system's library folders or pip's nvidia-*
# packages: put each one's folder on the loader path once.
dirs=$(find /usr/local /usr/lib /opt \( -name 'libcudnn.so.9' -o -name 'libcublasLt.so.13' \
    -o -name 'libcufft.so.12' -o -name 'libcurand.so.10' -o -name 'libcudart.so.13' \
    -o -name 'libnvrtc.so.13' -o -name 'libnvinfer.so.10' \) 2>/dev/null | xargs -r -n1 dirname | sort -u)
for d in $dirs; do LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"; done
export LD_LIBRARY_PATH

step() {
    echo
    echo "### $*"
    local t=$SECONDS
    "$@" 2>&1
    echo "(exit $?, $((SECONDS - t)) s)"
}

{
    echo "### machine"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
    nproc
    echo "CUDA/cuDNN folders: $dirs"
    step "$bin" doctor --device cuda --model models/cae_mv.onnx
    step "$bin" bench --synthetic convnext-t --size 224 --batch 1,64 --device cuda --session-only --no-python --seconds "$secs"
    step "$bin" bench --synthetic convnext-t --size 224 --batch 1,64 --device cuda --session-only --no-python --seconds "$secs" --fp16
    step python3 scripts/bench_pytorch_reference.py --size 224 --batch 1,64 --precision fp32,bf16 --seconds "$secs"
    MOUSEXRAY_CUDA_NHWC=1 step "$bin" bench --synthetic convnext-t --size 224 --batch 1,64 --device cuda --session-only --no-python --seconds "$secs" --fp16
    MOUSEXRAY_CUDA_NHWC=1 step "$bin" bench --synthetic convnext-t --size 224 --batch 1,64 --device cuda --session-only --no-python --seconds "$secs"
    step "$bin" doctor --device tensorrt --model models/cae_mv.onnx
    step "$bin" predict assets/sample --device cuda --out "$log/gpu_predict.csv" --saliency "$saliency"
    ls "$saliency" | head -4
    step "$bin" bench --model models/cae_mv.onnx --device cuda --batch 16,64 --no-python --seconds "$secs"
} 2>&1 | tee "$log/bench-gpu.log"
