#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that mousexray loads at run time.
#
#   scripts/fetch-onnxruntime.sh          CPU build   -> .ort/lib/
#   scripts/fetch-onnxruntime.sh --gpu    CUDA 13 build (CUDA + TensorRT providers) -> .ort/gpu/lib/
#
# The library comes from the official Python wheel, fetched with pip's normal index (no other
# download host). Wheels are cached in ${XDG_CACHE_HOME:-~/.cache}/mousexray/wheels; the core
# library's sha256 is pinned. Re-running with the library in place is a quick no-op.
set -euo pipefail

VERSION=1.31.1
CPU_SHA256=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3
GPU_SHA256=5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303

root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "--gpu" ]; then
  package=onnxruntime-gpu; dest="$root/.ort/gpu/lib"; want=$GPU_SHA256
  members="libonnxruntime.so.$VERSION libonnxruntime_providers_shared.so libonnxruntime_providers_cuda.so libonnxruntime_providers_tensorrt.so"
else
  package=onnxruntime; dest="$root/.ort/lib"; want=$CPU_SHA256
  members="libonnxruntime.so.$VERSION libonnxruntime_providers_shared.so"
fi
lib="$dest/libonnxruntime.so.$VERSION"

sha() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$lib" ] && [ "$(sha "$lib")" = "$want" ]; then
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=manylinux_2_28_x86_64 ;;
  *) echo "fetch-onnxruntime: only Linux x86_64 is scripted; put the ONNX Runtime $VERSION library next to the mousexray executable or pass --ort-lib" >&2; exit 1 ;;
esac

cache="${XDG_CACHE_HOME:-$HOME/.cache}/mousexray/wheels"
mkdir -p "$cache" "$dest"
wheel=$(ls "$cache"/"${package//-/_}"-"$VERSION"-cp312-*"$platform"*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
  echo "fetch-onnxruntime: downloading $package==$VERSION with pip" >&2
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "$platform" \
    --python-version 3.12 --implementation cp -d "$cache" "$package==$VERSION"
  wheel=$(ls "$cache"/"${package//-/_}"-"$VERSION"-cp312-*"$platform"*.whl | head -n1)
fi

python3 - "$wheel" "$dest" $members <<'PY'
import sys, zipfile, os, shutil
wheel, dest, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        member = "onnxruntime/capi/" + name
        try:
            info = z.getinfo(member)
        except KeyError:
            sys.exit(f"fetch-onnxruntime: {member} missing from {os.path.basename(wheel)}")
        tmp = os.path.join(dest, name + ".part")
        with z.open(info) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out)
        os.replace(tmp, os.path.join(dest, name))
PY

got=$(sha "$lib")
if [ "$got" != "$want" ]; then
  rm -f "$lib"
  echo "fetch-onnxruntime: sha256 mismatch for $lib: got $got, want $want" >&2
  exit 1
fi
ln -sf "libonnxruntime.so.$VERSION" "$dest/libonnxruntime.so.1"
ln -sf "libonnxruntime.so.$VERSION" "$dest/libonnxruntime.so"
echo "fetch-onnxruntime: ONNX Runtime $VERSION ($package) installed in ${dest#$root/}" >&2
