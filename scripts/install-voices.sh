#!/usr/bin/env bash
# Install every TTS voice and real-speech package the corpus tool uses (root, Debian bookworm).
# Several live in Debian's contrib and non-free components. They are enabled through a project-local
# copy of the system's own apt sources (same mirrors, components widened), so /etc/apt is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
root=build/apt
mkdir -p "$root/sources.list.d" "$root/lists/partial" "$root/cache/archives/partial"
: > "$root/sources.list"
for source in /etc/apt/sources.list.d/*.sources; do
  [ -e "$source" ] || continue
  sed -E 's/^Components:.*/Components: main contrib non-free/' "$source" > "$root/sources.list.d/$(basename "$source")"
done
apt_local=(-o "Dir::Etc::SourceList=$PWD/$root/sources.list" -o "Dir::Etc::SourceParts=$PWD/$root/sources.list.d"
           -o "Dir::State::Lists=$PWD/$root/lists" -o "Dir::Cache=$PWD/$root/cache")
apt-get "${apt_local[@]}" update -q
DEBIAN_FRONTEND=noninteractive apt-get "${apt_local[@]}" install -y -q \
  espeak-ng sox flite ffmpeg libsndfile1 pocketsphinx-testdata \
  festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts \
  mbrola festvox-rablpc16k festvox-don festvox-us1 festvox-us2 festvox-us3 festvox-en1 \
  mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1 mbrola-ma1 mbrola-id1 mbrola-af1 mbrola-nl2 mbrola-fr1 mbrola-fr4 \
  mbrola-de1 mbrola-de2 mbrola-de3 mbrola-de4 mbrola-de5 mbrola-de6 mbrola-gr2 mbrola-hu1 mbrola-pl1 mbrola-ro1 \
  mbrola-sw1 mbrola-sw2 libttspico-utils rhvoice rhvoice-english uqm-voice uqm-content \
  fortunes   # the free sentences of --open-text-hours and --open-passage-hours
# Packages read only for their sample recordings (real-speech test set); no dependencies needed.
if [ -x .venv/bin/pip ]; then
  .venv/bin/pip install -q --no-deps pyannote-audio==4.0.7 useful-moonshine-onnx==20251121
fi
