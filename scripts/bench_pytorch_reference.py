#!/usr/bin/env python3
"""PyTorch reference throughput of the two-view ConvNeXt-T, for GPU comparisons.

The same architecture as `mousexray bench --synthetic convnext-t`: timm's ConvNeXt-T with a
1-channel stem, DV and LV through one shared backbone (batched together), the pooled vectors
concatenated, linear heads 1 + 3 + 10. Random weights and inputs; eager mode, as the PyTorch
anchors recorded in BENCHMARKS.md were measured. Run it on the same machine and in the same boot
as our bench, so the ratio compares engines and not machines. Prints one JSON line per configuration:
{"precision": "fp32", "batch": 64, "specimens_per_s": X, "device": "NVIDIA H200", "torch": "2.11.0"}.
Needs torch and timm.
"""
import argparse
import json
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", default="1,64", help="comma-separated batch sizes")
    ap.add_argument("--precision", default="fp32,bf16", help="fp32 and/or bf16 (autocast)")
    ap.add_argument("--seconds", type=float, default=5.0)
    a = ap.parse_args()
    try:
        import timm
        import torch
    except ImportError as e:
        print(f"torch and timm are needed ({e})", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("no CUDA device visible to torch", file=sys.stderr)
        return 2
    dev = torch.device("cuda")

    class TwoView(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = timm.create_model("convnext_tiny", pretrained=False, in_chans=1, num_classes=0)
            width = self.backbone.num_features
            self.l1 = torch.nn.Linear(2 * width, 1)
            self.l2 = torch.nn.Linear(2 * width, 3)
            self.l3 = torch.nn.Linear(2 * width, 10)

        def forward(self, dv, lv):
            n = dv.shape[0]
            f = self.backbone(torch.cat([dv, lv], 0))
            fused = torch.cat([f[:n], f[n:]], 1)
            return torch.sigmoid(self.l1(fused)), torch.sigmoid(self.l2(fused)), torch.sigmoid(self.l3(fused))

    model = TwoView().to(dev).eval()
    for precision in a.precision.split(","):
        for batch in (int(b) for b in a.batch.split(",")):
            x = torch.randn(batch, 1, a.size, a.size, device=dev)
            ctx = torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16")
            with torch.inference_mode(), ctx:
                for _ in range(3):
                    model(x, x)
                torch.cuda.synchronize()
                runs, t = 0, time.perf_counter()
                while runs < 3 or time.perf_counter() - t < a.seconds:
                    model(x, x)
                    runs += 1
                torch.cuda.synchronize()
                per_s = runs * batch / (time.perf_counter() - t)
            print(json.dumps({
                "precision": precision,
                "batch": batch,
                "specimens_per_s": round(per_s, 1),
                "device": torch.cuda.get_device_name(0),
                "torch": torch.__version__,
            }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
