#!/usr/bin/env python3
"""Reference throughput of a mousexray model through Python's onnxruntime.

`mousexray bench` runs this on the same file, batch and thread count as its own session, so the
two numbers compare one engine with the other and nothing else. Prints one JSON line:
{"batch": B, "specimens_per_s": X, "version": "1.31.1", "provider": "CPUExecutionProvider"}.
Needs `pip install onnxruntime numpy` (or onnxruntime-gpu for --device cuda).
"""
import argparse
import json
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: onnxruntime's choice)")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--device", default="cpu", help="cpu, cuda, tensorrt or auto")
    a = ap.parse_args()
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        print(f"onnxruntime for Python is not installed ({e})", file=sys.stderr)
        return 2
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    wanted = {
        "cpu": ["CPUExecutionProvider"],
        "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
        "auto": ["CUDAExecutionProvider", "CPUExecutionProvider"],
        "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
    }.get(a.device, ["CPUExecutionProvider"])
    providers = [p for p in wanted if p in ort.get_available_providers()]
    sess = ort.InferenceSession(a.model, so, providers=providers)
    size = sess.get_inputs()[0].shape[-1]
    rng = np.random.default_rng(a.batch)
    x = rng.standard_normal((a.batch, 1, size, size), dtype=np.float32)
    feeds = {"dv": x, "lv": x, "views": np.ones((a.batch, 2), dtype=np.float32)}
    sess.run(None, feeds)
    runs, t = 0, time.perf_counter()
    while runs < 3 or time.perf_counter() - t < a.seconds:
        sess.run(None, feeds)
        runs += 1
    per_s = runs * a.batch / (time.perf_counter() - t)
    print(json.dumps({
        "batch": a.batch,
        "specimens_per_s": per_s,
        "version": ort.__version__,
        "provider": sess.get_providers()[0],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
