#!/usr/bin/env bash
# Every measurement a default candidate gets before it may be shipped, in two lanes of one thread each
# (the 2-core CPU machine). Usage: scripts/evaluate-default.sh MODEL_FOLDER NAME
#   docs/runs/NAME/{listening,rows-read}.json      listening gain and greedy WER vs Whisper base; rows read as tokens
#   reports/NAME/                                  the six tasks, 6 examples per task and test split, text-only sets
#   reports/open-text/NAME/                        all 107 held-out free English sentences
#   reports/para-30/NAME/, reports/no-speech/NAME/ PARA on 90 items; the clips without speech
#   reports/para-all/NAME/                         PARA on all 328 test items (a steadier estimate than the 90)
# Every command resumes or rewrites its own output, so a rerun after an interruption is safe.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?model folder}
name=${2:?name for the outputs}
mkdir -p "docs/runs/$name"
eval_args=(--model "$model" --no-progress --threads 1)
(
  python experiments/listening.py "$model" --data corpus/test_unseen_voice.jsonl --examples 24 --transcribe 24 \
      --whisper whisper-base --threads 1 --out "docs/runs/$name/listening.json" > /dev/null
  python experiments/rows_read.py "$model" --data corpus/test_unseen_voice.jsonl --examples 12 \
      > "docs/runs/$name/rows-read.json.partial"
  mv "docs/runs/$name/rows-read.json.partial" "docs/runs/$name/rows-read.json"
  audiollm eval "${eval_args[@]}" --data corpus --tasks para --limit 30 --max-new-tokens 32 --out "reports/para-30/$name"
  audiollm eval "${eval_args[@]}" --data corpus --no-speech-only --max-new-tokens 96 --out "reports/no-speech/$name"
  audiollm eval "${eval_args[@]}" --data corpus --tasks para --limit 1000 --max-new-tokens 32 --out "reports/para-all/$name"
) &
lane=$!
audiollm eval "${eval_args[@]}" --data corpus --limit 6 --max-new-tokens 96 --text-only --out "reports/$name"
audiollm eval "${eval_args[@]}" --data corpus/test_open_text.jsonl --max-new-tokens 96 --out "reports/open-text/$name"
wait "$lane"
