# mousexray: the two set-up commands are `make run` and `make test`.
CARGO ?= cargo
SAMPLE ?= assets/sample

.PHONY: run test setup setup-gpu build bench clean-ort

## Build (release), install ONNX Runtime if needed, open the bundled sample.
run: setup build
	./target/release/mousexray scan $(SAMPLE)

## Every test, in the one optimised profile that `make run` also builds.
test: setup
	$(CARGO) test --release --all-targets
	$(CARGO) test --release --doc

## ONNX Runtime 1.31.1 (CPU) into .ort/lib (quick no-op when present).
setup:
	@scripts/fetch-onnxruntime.sh

## ONNX Runtime 1.31.1 with CUDA 13 and TensorRT providers into .ort/gpu/lib (284 MB).
setup-gpu:
	@scripts/fetch-onnxruntime.sh --gpu

build:
	$(CARGO) build --release

## Benchmarks recorded in BENCHMARKS.md.
bench: setup
	$(CARGO) bench --bench scan

clean-ort:
	rm -rf .ort
