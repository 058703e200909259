"""audiollm.data: manifests and the synthetic corpus (`audiollm synth`, see docs/corpus.md).

manifest.py     the JSONL schema shared by corpus, training and evaluation
conventions.py  split names, NO_SPEECH_ANSWER, PARA label sets
numbers.py, lexicon.py, places.py, templates.py, singlish.py, textgen.py, instructions.py
                the seeded Singapore text generator (four languages)
voices.py, casting.py, tts.py, augment.py
                the voice table, voice choice, TTS engines, numpy augmentation
tasks_*.py      one builder per task family; context.py is what they share
plan.py, render.py, real_speech.py, synthesize.py, summary.py
                planning, rendering, real-speech test sets, the resumable parallel build, its summary
Nothing is imported here, so `import audiollm.data.manifest` stays cheap.
"""
