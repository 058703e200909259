"""`--limit N`: at most N examples per task of each set, spread evenly over the set."""

from pathlib import Path

from audiollm.data.manifest import Example
from audiollm.evaluate.data import EvalSet
from audiollm.evaluate.pipeline import limit_sets


def test_limit_keeps_every_task_and_spreads_picks():
    asr = [Example(id=f"a{i}", task="asr", instruction="t", answer=str(i)) for i in range(10)]
    st = [Example(id=f"s{i}", task="st", instruction="t", answer=str(i)) for i in range(3)]
    (limited,) = limit_sets([EvalSet("test_seen", Path("x.jsonl"), asr + st)], 2)
    assert [e.id for e in limited.examples] == ["a0", "a5", "s0", "s1"]
    assert limit_sets([EvalSet("x", Path("x"), asr)], None)[0].examples == asr
