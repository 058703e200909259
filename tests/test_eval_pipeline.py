"""The whole evaluation path on a tiny corpus with a scripted model: scores by hand, resuming, the
judge, the HTTP client, AudioBench-layout HF folders, long audio, comparisons and the CLI."""

from __future__ import annotations

import argparse
import base64
import io
import json

import httpx
import numpy as np
import pytest
import soundfile
from test_eval_fixtures import CORPUS, ScriptedResponder, tone, write_corpus

from audiollm.errors import ConfigError
from audiollm.evaluate import Decoding, JudgeClient, compare, evaluate
from audiollm.evaluate.http_client import HttpResponder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def test_scores_match_hand_computation(corpus, tmp_path):
    model = ScriptedResponder()
    report = evaluate(model, [corpus], tmp_path, batch_size=4, progress=False)
    tasks = report["tasks"]
    # en: 1 deletion in 6 words + 1 insertion in 2 words + 0 in 5 words -> 2/13.
    assert tasks["asr"]["subsets"]["all"]["wer"] == pytest.approx(100 * 2 / 13)
    assert tasks["asr"]["subsets"]["all"]["cer"] == pytest.approx(100 * 2 / 7)   # 2 of 7 characters
    assert tasks["asr"]["subsets"]["all"]["hallucination"] == 50.0               # "Thank you." on noise
    assert tasks["asr"]["subsets"]["split: unseen voices"]["wer"] == 50.0
    assert tasks["st"]["subsets"]["lang: en→ms"]["bleu"] == pytest.approx(100.0)
    assert tasks["sqa"]["subsets"]["split: unseen templates"]["contains_match"] == 100.0
    assert tasks["sqa"]["subsets"]["split: unseen templates"]["rouge_l"] == pytest.approx(40.0)  # 1 of 4 words
    # male ok, female ok, "male, not female" -> male (wrong), "can't tell" -> none (wrong).
    assert tasks["para"]["subsets"]["all"]["accuracy"] == 50.0
    # Without listening: always "female" for gender (2 of 3) and "happy" (1 of 1) -> 3/4; uniform guessing
    # among 2, 2, 2 and 3 choices -> (1/2 + 1/2 + 1/2 + 1/3) / 4.
    assert tasks["para"]["subsets"]["all"]["majority"] == 75.0
    assert tasks["para"]["subsets"]["all"]["chance"] == pytest.approx(100 * (1.5 + 1 / 3) / 4)
    assert tasks["para"]["confusion"]["gender"]["matrix"] == [[1, 1, 0], [0, 1, 0]]
    assert tasks["para"]["subsets"]["attribute: gender"]["accuracy"] == pytest.approx(100 * 2 / 3)
    assert tasks["para"]["subsets"]["attribute: emotion"]["accuracy"] == 0.0
    # Batches hold at most batch_size requests, each with the exact instruction and decoding settings.
    assert len(model.calls) == len(CORPUS)
    request = next(r for r in model.requests if r.extra["id"] == "sqa-1")
    assert request.instruction == CORPUS["sqa-1"][3] and request.max_new_tokens == 256
    provenance = tasks["asr"]["provenance"]
    assert provenance["normaliser"]["version"] == "audiobench-asr-1"
    assert provenance["model"]["name"] == "scripted" and provenance["decoding"][0]["temperature"] == 0.0
    for name in ("run.json", "predictions.jsonl", "items.jsonl", "report.json", "report.md",
                 "plots/scores.png", "plots/confusion_gender.png"):
        assert (tmp_path / name).is_file(), name
    items = [json.loads(line) for line in (tmp_path / "items.jsonl").read_text().splitlines()]
    asr_1 = next(i for i in items if i["key"].endswith("/asr-1"))
    assert asr_1["scores"]["rate"] == pytest.approx(1 / 6)                       # per-utterance WER
    assert "| split: unseen voices | 1 | 50.00 |" in (tmp_path / "report.md").read_text()


def test_resume_skips_finished_examples(corpus, tmp_path):
    evaluate(ScriptedResponder(), [corpus], tmp_path, progress=False, plots=False)
    again = ScriptedResponder()
    evaluate(again, [corpus], tmp_path, progress=False, plots=False)
    assert again.calls == []
    # An interrupted write leaves a torn last line: it is dropped and only that example is redone.
    path = tmp_path / "predictions.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][:20], encoding="utf-8")
    third = ScriptedResponder()
    report = evaluate(third, [corpus], tmp_path, progress=False, plots=False)
    assert third.calls == [json.loads(lines[-1])["id"]]
    assert report["tasks"]["para"]["subsets"]["all"]["n"] == 4
    with pytest.raises(ConfigError, match="another model or other decoding"):
        evaluate(ScriptedResponder(), [corpus], tmp_path, decoding=Decoding(max_new_tokens=8), progress=False)
    fresh = ScriptedResponder()
    evaluate(fresh, [corpus], tmp_path, decoding=Decoding(max_new_tokens=8), overwrite=True, progress=False,
             plots=False)
    assert len(fresh.calls) == len(CORPUS)


def test_loop_guard_reaches_the_model_and_the_record(corpus, tmp_path):
    plain = json.loads((evaluate(ScriptedResponder(), [corpus], tmp_path / "plain", progress=False, plots=False)
                        and (tmp_path / "plain" / "run.json")).read_text())
    # Left to the model: not written, so reports from before the option still match.
    assert "no_repeat_ngram_size" not in plain["decoding"]
    guarded = ScriptedResponder()
    evaluate(guarded, [corpus], tmp_path / "guarded", decoding=Decoding(no_repeat_ngram_size=6), progress=False,
             plots=False)
    assert {r.no_repeat_ngram_size for r in guarded.requests} == {6}
    assert json.loads((tmp_path / "guarded" / "run.json").read_text())["decoding"]["no_repeat_ngram_size"] == 6
    with pytest.raises(ConfigError, match="another model or other decoding"):  # not mixed into a plain report
        evaluate(ScriptedResponder(), [corpus], tmp_path / "plain", decoding=Decoding(no_repeat_ngram_size=6),
                 progress=False)
    with pytest.raises(ConfigError, match="no_repeat_ngram_size"):
        Decoding(no_repeat_ngram_size=-1)
    switched_off = ScriptedResponder()  # 0 is said out loud: the model's own guard is off
    evaluate(switched_off, [corpus], tmp_path / "off", decoding=Decoding(no_repeat_ngram_size=0), progress=False,
             plots=False)
    assert {r.no_repeat_ngram_size for r in switched_off.requests} == {0}
    assert json.loads((tmp_path / "off" / "run.json").read_text())["decoding"]["no_repeat_ngram_size"] == 0


def judge_transport(calls: list):
    """Fake judge: 4/5 for open answers, 1 for binary ones."""

    def handler(request):
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "fake-judge"}]})
        prompt = json.loads(request.content)["messages"][0]["content"]
        calls.append(prompt)
        reply = "Explanation: fine.\nRating: 1" if "score of 0 or 1" in prompt else "Explanation: ok.\nRating: 4"
        return httpx.Response(200, json={"choices": [{"message": {"content": reply}}]})

    return httpx.MockTransport(handler)


def test_judge_scores_and_caching(corpus, tmp_path):
    calls: list = []
    judge = JudgeClient("http://judge", transport=judge_transport(calls))
    report = evaluate(ScriptedResponder(), [corpus], tmp_path, judge=judge, progress=False, plots=False)
    # Judged: 2 SQA + 1 SDS + 1 SI (open, 4 -> 80) and 4 PARA (binary, 1 -> 100); ASR and ST are not.
    assert len(calls) == 8
    assert report["tasks"]["sqa"]["subsets"]["all"]["judge"] == pytest.approx(80.0)
    assert report["tasks"]["para"]["subsets"]["all"]["judge"] == pytest.approx(100.0)
    assert report["tasks"]["sds"]["provenance"]["judge"]["model"] == "fake-judge"
    evaluate(ScriptedResponder(), [corpus], tmp_path, judge=judge, progress=False, plots=False)
    assert len(calls) == 8  # every judgement came from judgements.jsonl


def test_http_responder_sends_openai_audio_parts(corpus, tmp_path):
    bodies: list = []

    def handler(request):
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "audiollm-default"}]})
        body = json.loads(request.content)
        bodies.append(body)
        text, audio = body["messages"][0]["content"]
        samples, rate = soundfile.read(io.BytesIO(base64.b64decode(audio["input_audio"]["data"])))
        assert text["type"] == "text" and audio["input_audio"]["format"] == "wav" and rate == 16000
        return httpx.Response(200, json={"choices": [{"message": {"content": f"{len(samples)} samples"}}]})

    client = HttpResponder("http://server:8000", transport=httpx.MockTransport(handler))
    report = evaluate(client, [corpus / "test_real.jsonl"], tmp_path, progress=False, plots=False)
    assert report["model"]["served_model"] == "audiollm-default"
    assert bodies[0]["max_tokens"] == 256 and bodies[0]["temperature"] == 0.0
    prediction = json.loads((tmp_path / "predictions.jsonl").read_text())["prediction"]
    assert prediction == f"{int(1.2 * 16000)} samples"


def test_audiobench_layout_hf_folder(tmp_path):
    import datasets

    rows = {"context": [], "instruction": ["Transcribe.", "Transcribe."], "answer": ["hello world", "good day"]}
    for seconds in (1.0, 0.5):
        buffer = io.BytesIO()
        soundfile.write(buffer, tone(seconds), 16000, format="WAV")
        rows["context"].append({"bytes": buffer.getvalue(), "path": None})
    dataset = datasets.Dataset.from_dict(rows).cast_column("context", datasets.Audio(decode=False))
    dataset.save_to_disk(str(tmp_path / "librispeech_tiny"))
    model = ScriptedResponder(answers={"000000": "hello world", "000001": "good night"})
    with pytest.raises(ConfigError, match="--task"):
        evaluate(model, [tmp_path / "librispeech_tiny"], tmp_path / "out", progress=False)
    report = evaluate(model, [tmp_path / "librispeech_tiny"], tmp_path / "out", task="asr", progress=False,
                      plots=False)
    assert report["tasks"]["asr"]["subsets"]["all"]["wer"] == 25.0  # 1 substitution in 4 words
    assert len(model.requests[0].audio) == 16000 and model.requests[0].instruction == "Transcribe."


def test_audiobench_long_audio_policy(tmp_path):
    from audiollm.data.manifest import Example, write_manifest

    for name, seconds in (("long", 65.0), ("short", 0.5)):
        soundfile.write(str(tmp_path / f"{name}.wav"), tone(seconds), 16000, subtype="PCM_16")
    write_manifest(tmp_path / "set.jsonl", [
        Example(id="long", task="asr", instruction="Transcribe.", answer="a b c", audio="long.wav", duration=65.0),
        Example(id="long-sqa", task="sqa", instruction="Q?", answer="x", audio="long.wav", duration=65.0),
        Example(id="short", task="asr", instruction="Transcribe.", answer="d", audio="short.wav", duration=0.5)])
    model = ScriptedResponder(answers={"long": "a", "short": "d"})
    evaluate(model, [tmp_path / "set.jsonl"], tmp_path / "out", decoding=Decoding(long_audio="audiobench"),
             progress=False, plots=False)
    lengths = {}
    for request in model.requests:
        lengths.setdefault(request.extra["id"], []).append(len(request.audio) / 16000)
    assert lengths == {"long": [30.0, 30.0, 5.0], "long-sqa": [30.0], "short": [1.5]}
    predictions = {json.loads(l)["id"]: json.loads(l)["prediction"] for l in (tmp_path / "out/predictions.jsonl").open()}
    assert predictions["long"] == "a a a"  # the three pieces' transcripts joined with spaces
    # ASR budgets grow with duration so long transcripts are not cut: 65 s x 5 tokens/s + 16.
    assert model.requests[0].max_new_tokens == 341


def test_longform_set_and_duration_curve(corpus, tmp_path):
    from audiollm.evaluate.data import load_eval_set
    from audiollm.evaluate.longform import build_longform

    sets = load_eval_set(corpus)
    manifest = build_longform(sets, tmp_path / "longform", durations=(3.0, 12.0), per_duration=1)
    assert build_longform(sets, tmp_path / "longform", durations=(3.0, 12.0), per_duration=1) == manifest
    longform = load_eval_set(manifest)[0].examples
    asr = [e for e in longform if e.task == "asr"]
    sqa = [e for e in longform if e.task == "sqa"]
    assert [e.meta["target_duration"] for e in asr] == [3.0, 12.0]
    assert all(e.duration >= e.meta["target_duration"] for e in asr)
    assert all(len(soundfile.read(str(e.audio_path))[0]) / 16000 == pytest.approx(e.duration) for e in longform)
    assert asr[0].answer.split()[:2] != [] and all(e.split == "test_longform" for e in longform)
    assert sqa and all(e.answer in (CORPUS["sqa-1"][4], CORPUS["sqa-2"][4]) for e in sqa)
    model = ScriptedResponder(answers={e.id: e.answer for e in longform})
    report = evaluate(model, [manifest], tmp_path / "out", progress=False)
    curve = report["tasks"]["asr"]["by_duration"]
    assert len(curve) == 2 and all(point["value"] == 0.0 for point in curve)
    assert (tmp_path / "out" / "plots" / "duration.png").is_file()


def test_compare_renders_one_table(corpus, tmp_path):
    evaluate(ScriptedResponder("model-a"), [corpus], tmp_path / "a", progress=False, plots=False)
    worse = {key: "" for key in CORPUS}
    evaluate(ScriptedResponder("model-b", worse), [corpus], tmp_path / "b", progress=False, plots=False)
    markdown = compare([tmp_path / "a", tmp_path / "b"], tmp_path / "cmp")
    assert "| task | subset | metric | model-a | model-b |" in markdown
    assert "| asr | all | WER % | 15.38 | 100.00 |" in markdown
    assert (tmp_path / "cmp" / "plots" / "scores.png").is_file() and (tmp_path / "cmp" / "compare.md").is_file()
    with pytest.raises(ConfigError, match="no report.json"):
        compare([tmp_path / "missing"])


def test_cli_runs_eval_and_compare(corpus, tmp_path, monkeypatch, capsys):
    import audiollm.cli.evaluate as cli

    parser = argparse.ArgumentParser(prog="audiollm")
    cli.register(parser.add_subparsers(dest="command"))
    monkeypatch.setattr(cli, "resolve_responder", lambda name, **settings: ScriptedResponder(name))
    args = parser.parse_args(["eval", "--model", "fake", "--data", str(corpus), "--out", str(tmp_path / "run"),
                              "--batch-size", "3", "--no-progress", "--no-plots"])
    assert args.run(args) == 0
    assert "report:" in capsys.readouterr().out
    args = parser.parse_args(["eval", "--compare", str(tmp_path / "run"), "--no-plots"])
    assert args.run(args) == 0 and "| asr | all | WER % | 15.38 |" in capsys.readouterr().out
    args = parser.parse_args(["eval", "--model", "fake"])
    assert args.run(args) == 2 and "needs --model, --data and --out" in capsys.readouterr().err
    args = parser.parse_args(["eval", "--model", "fake", "--data", str(tmp_path / "nope.jsonl"), "--out", "x"])
    assert args.run(args) == 2 and "test data not found" in capsys.readouterr().err


def test_unreadable_audio_is_reported_not_fatal(tmp_path):
    from audiollm.data.manifest import Example, write_manifest

    (tmp_path / "bad.wav").write_bytes(b"not audio")
    write_manifest(tmp_path / "set.jsonl", [Example(id="bad", task="asr", instruction="T.", answer="hi",
                                                    audio="bad.wav", duration=1.0)])
    report = evaluate(ScriptedResponder(), [tmp_path / "set.jsonl"], tmp_path / "out", progress=False, plots=False)
    assert report["errors"] == 1 and report["tasks"]["asr"]["subsets"]["all"]["wer"] == 100.0
    assert np.isfinite(report["tasks"]["asr"]["subsets"]["all"]["wer"])


def test_text_only_sets_score_plain_instructions(corpus, tmp_path):
    """--text-only: the shipped general set plus SI/SQA as text prompts, no audio sent, short answers matched."""
    from audiollm.evaluate.data import load_eval_set
    from audiollm.evaluate.textonly import GENERAL_NAME, text_only_sets

    sets = text_only_sets(load_eval_set(corpus))
    general = sets[0]
    assert general.name == GENERAL_NAME and len(general.examples) == 32
    assert all(e.task == "text" and e.audio is None for s in sets for e in s.examples)
    derived = {e.id: e for s in sets[1:] for e in s.examples}
    assert derived["sqa-1-text"].instruction == "I live in Paris.\n\nQuestion: Where does she live?"
    assert derived["si-1-text"].instruction == "Name a colour." and derived["si-1-text"].answer == "Blue is a colour."
    answers = {"text-general-00": "The capital is Paris.", "text-general-07": "6", "sqa-1-text": "Paris",
               "si-1-text": "Blue is a colour."}
    model = ScriptedResponder(answers=answers)
    report = evaluate(model, sets, tmp_path, progress=False, plots=False)
    assert all(r.audio is None for r in model.requests)
    general_row = report["tasks"]["text"]["subsets"]["split: general text"]
    assert general_row["contains_match"] == pytest.approx(100 / 32)  # Paris contained; 6 is not 5
    assert report["tasks"]["text"]["subsets"]["split: unseen templates"]["exact_match"] == 100.0


def test_cli_limits_only_the_data_and_filters_tasks(corpus, tmp_path, monkeypatch, capsys):
    """--limit cuts the --data sets, not the text-only set built beside them; --tasks keeps the named tasks;
    --longform-only scores just the long-form set."""
    import audiollm.cli.evaluate as cli

    parser = argparse.ArgumentParser(prog="audiollm")
    cli.register(parser.add_subparsers(dest="command"))
    monkeypatch.setattr(cli, "resolve_responder", lambda name, **settings: ScriptedResponder(name))
    base = ["eval", "--model", "fake", "--data", str(corpus), "--no-progress", "--no-plots"]
    args = parser.parse_args(base + ["--out", str(tmp_path / "a"), "--limit", "1", "--text-only", "--tasks", "asr,text"])
    assert args.run(args) == 0
    data = {d["name"]: d["n"] for d in json.loads((tmp_path / "a" / "run.json").read_text())["data"]}
    assert data["text_general"] == 32 and data["test_seen"] == 1  # one ASR example of test_seen, nothing else
    assert data["test_unseen_voice"] == 1 and data["test_real"] == 1
    args = parser.parse_args(base + ["--out", str(tmp_path / "b"), "--longform-only", "--longform-durations", "3",
                                     "--longform-per-duration", "1"])
    assert args.run(args) == 0
    data = [d["name"] for d in json.loads((tmp_path / "b" / "run.json").read_text())["data"]]
    assert data == ["test_longform"]
    args = parser.parse_args(base + ["--out", str(tmp_path / "c"), "--tasks", "asr,speech"])
    assert args.run(args) == 2 and "--tasks takes" in capsys.readouterr().err
    args = parser.parse_args(base + ["--out", str(tmp_path / "d"), "--no-speech-only", "--limit", "1"])
    assert args.run(args) == 0
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    data = {d["name"]: d["n"] for d in json.loads((tmp_path / "d" / "run.json").read_text())["data"]}
    assert sum(data.values()) == 2  # both silent clips, whatever --limit says; the scripted model
    assert "Thank you." in (tmp_path / "d" / "predictions.jsonl").read_text()  # answers one with text
    assert '"hallucination": 50.0' in json.dumps(report)


def test_a_refused_request_does_not_sink_its_batch(corpus, tmp_path):
    """A model that refuses one clip (e.g. past its window cap): that clip scores empty with its error, the
    rest of the batch is answered as usual."""
    from audiollm.errors import AudioError

    class Refusing(ScriptedResponder):
        def respond(self, requests):
            if any(r.extra["id"] == "sqa-2" for r in requests):
                raise AudioError("the audio needs 20 windows, at most 10 are allowed")
            return super().respond(requests)

    report = evaluate(Refusing(), [corpus], tmp_path, batch_size=8, progress=False, plots=False)
    records = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "predictions.jsonl").open()}
    assert report["errors"] == 1 and "20 windows" in records["sqa-2"]["error"] and records["sqa-2"]["prediction"] == ""
    assert records["sqa-1"]["prediction"] == CORPUS["sqa-1"][7]
