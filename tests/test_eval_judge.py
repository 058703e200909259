"""The LLM judge: rating parsing on canned replies, AudioBench's scaling, and the HTTP client
against a fake OpenAI-compatible server (httpx MockTransport, no network)."""

from __future__ import annotations

import json

import httpx
import pytest

from audiollm.errors import ConfigError
from audiollm.evaluate.judge import JudgeClient, Rating, parse_rating, render_prompt, scaled_score


@pytest.mark.parametrize("reply, rubric, score, method", [
    ("Explanation: The reference answer is Paris, while the model's answer is Paris. I think it matches.\n"
     "Rating: 5", "open", 5.0, "rating_line"),
    ("Explanation: partly right.\nRating: 3.", "open", 3.0, "rating_line"),
    ("Explanation: ...\nRating: **4**", "open", 4.0, "rating_line"),       # AudioBench's rule gives 0 here
    ("Explanation: ...\nRating: 3 out of 5", "open", 3.0, "rating_line"),  # AudioBench's rule gives 5 here
    ("The answer is close. 4", "open", 4.0, "last_token"),                # no Rating line: AudioBench's rule
    ("Explanation: wrong.\nRating: 0", "binary", 0.0, "rating_line"),
    ("Explanation: right.\nRating: 1", "binary", 1.0, "rating_line"),
    ("Rating: 2", "binary", 0.0, "failed"),                               # out of range for 0/1
    ("Rating: 7", "open", 0.0, "failed"),
    ("I cannot rate this.", "open", 0.0, "failed"),
    ("", "open", 0.0, "failed"),
])
def test_parse_rating(reply, rubric, score, method):
    rating = parse_rating(reply, rubric)
    assert (rating.score, rating.method) == (score, method)


def test_scaling_matches_audiobench():
    # Open rubric: mean rating x 20, failures count as 0. Binary: mean x 100.
    ratings = [Rating(5, "rating_line"), Rating(3, "rating_line"), Rating(0, "failed"), Rating(4, "last_token")]
    assert scaled_score(ratings, "open") == pytest.approx((5 + 3 + 0 + 4) / 4 * 20)
    assert scaled_score([Rating(1, "x"), Rating(0, "x"), Rating(1, "x")], "binary") == pytest.approx(200 / 3)


def test_prompt_has_reference_answer_question_and_rubric():
    prompt = render_prompt("open", "Where?", "Paris", "In Paris")
    assert prompt.index("[Reference Answer]\nParis") < prompt.index("[Model Answer]\nIn Paris") < \
        prompt.index("[Question]\nWhere?")
    assert "Score5:" in prompt and prompt.endswith("Rating: (int)")
    assert "Please give a score of 0 or 1." in render_prompt("binary", "q", "a", "b")
    with pytest.raises(ConfigError):
        render_prompt("stars", "q", "a", "b")


def fake_judge_server(replies: dict[str, str], seen: list):
    """A MockTransport that lists one model and answers chat requests by a word in the prompt."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "judge-7b"}]})
        assert request.url.path == "/v1/chat/completions"
        body = json.loads(request.content)
        seen.append(body)
        prompt = body["messages"][0]["content"]
        text = next((reply for word, reply in replies.items() if word in prompt), "no rating")
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": text}}]})

    return httpx.MockTransport(handler)


def test_client_asks_the_server_and_keeps_order():
    seen: list = []
    transport = fake_judge_server({"Paris": "Rating: 5", "Rome": "Rating: 1"}, seen)
    judge = JudgeClient("http://judge:9000", transport=transport, workers=2)
    assert judge.model == "judge-7b" and judge.base_url == "http://judge:9000/v1"
    replies = judge.rate([render_prompt("open", "q", "Paris", "x"), render_prompt("open", "q", "Rome", "y")])
    assert replies == ["Rating: 5", "Rating: 1"]
    assert all(body["temperature"] == 0.0 and body["model"] == "judge-7b" for body in seen)
    assert judge.identity()["model"] == "judge-7b"


def test_client_errors_name_the_server():
    def broken(request):
        return httpx.Response(500, text="boom")

    judge = JudgeClient("http://judge:9000/v1/chat/completions", model="m", transport=httpx.MockTransport(broken))
    with pytest.raises(ConfigError, match="judge server http://judge:9000/v1"):
        judge.ask("hi")
