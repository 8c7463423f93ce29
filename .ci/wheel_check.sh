#!/usr/bin/env bash
# Packaging check: build the wheel, install it into a clean virtual environment (torch first, pinned to the
# CPU build: a plain torch requirement would pull CUDA wheels) and run florenz from outside the source tree,
# so the named configs and the font must come from the installed package.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w "$work/dist" . || "$PYTHON" -m pip wheel -q --no-deps -w "$work/dist" .
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/pip" install -q torch==2.13.0
"$work/venv/bin/pip" install -q "$work"/dist/florenz-*.whl
cd "$work"
unzip -l dist/florenz-*.whl > wheel-files.txt  # (a grep -q in a pipe would SIGPIPE unzip under pipefail)
grep -q "florenz/configs/micro.toml" wheel-files.txt
venv/bin/florenz models --json > models.json
venv/bin/python -c "import json, sys; d = json.load(open('models.json')); sys.exit(0 if d else 'models --json: empty')"
venv/bin/florenz train micro --out run \
  --set model.preset=micro-gemma-xs --set train.samples=16 --set train.batch_size=8 --set train.micro_batch_size=8 \
  --set train.decoder_lm_samples=8 --set train.threads=1 --set train.warmup_steps=1 --set data.cache_dir="$work/worlds" \
  --set world.train_scenes=24 --set world.heldout_scenes=8 --set world.lm_sentences=32 --set world.shard_size=16
test -s run/result.json
echo "wheel check: ok ($(ls dist))"
