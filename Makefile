# mousexray: the two set-up commands are `make run` and `make test`.
CARGO ?= cargo
SAMPLE ?= assets/sample

.PHONY: run test setup setup-gpu build bench sample clean-ort screenshots

## Build (release), install ONNX Runtime if needed, classify the bundled sample with the
## bundled model (predictions CSV and saliency overlays under target/sample/), then open the
## review window on it (classifying it there too) when there is a display.
run: setup build
	./target/release/mousexray scan $(SAMPLE)
	./target/release/mousexray predict $(SAMPLE) --out target/sample/predictions.csv --saliency target/sample/saliency
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then ./target/release/mousexray $(SAMPLE) --classify; \
	else echo "No display (DISPLAY/WAYLAND_DISPLAY unset): the review window needs X11 or Wayland. Headless results are in target/sample/."; fi

## Screenshots of the real window under Xvfb (needs xvfb, xdotool, imagemagick).
screenshots: build
	scripts/screenshot.sh target/screenshots

## Every test, in the one optimised profile that `make run` also builds.
test: setup
	$(CARGO) test --release

## ONNX Runtime 1.31.1 (CPU) into .ort/lib (quick no-op when present).
setup:
	@scripts/fetch-onnxruntime.sh

## ONNX Runtime 1.31.1 with CUDA 13 and TensorRT providers into .ort/gpu/lib (284 MB).
setup-gpu:
	@scripts/fetch-onnxruntime.sh --gpu

build:
	$(CARGO) build --release

## Regenerate the committed sample folder (byte-identical on every machine; a test checks it).
## Varied films and animals, as the bundled models were trained on.
SAMPLE_ARGS = --count 24 --seed 20 --size 320 --format mixed --prevalence 0.6 --min-severity 0.3 --vary-film --vary-animal
sample: build
	rm -rf assets/sample
	./target/release/mousexray synth --out assets/sample $(SAMPLE_ARGS)

## Benchmarks recorded in BENCHMARKS.md.
bench: setup
	$(CARGO) bench --bench scan
	$(CARGO) bench --bench preprocess

clean-ort:
	rm -rf .ort
