"""LLM-as-judge scoring with AudioBench's rubrics, against any OpenAI-compatible endpoint.

AudioBench (reference/meralion.md section 6.2) shows the judge the reference answer, the model's
answer and the question, asks for "Explanation: ... Rating: (int)", and parses the last
whitespace-separated token of the reply as the score (0 when that fails). Two rubrics:

- "open": 0-5, the mean is multiplied by 20 (SQA, SDS, SI);
- "binary": 0/1, the mean is multiplied by 100 (multiple choice, emotion, gender, accent).

The rubric texts below are AudioBench's wording (they define the metric; the line indentation of the
original Python string is dropped). AudioBench sent them through the completions API with the judge's
chat template and default sampling; we send one chat message with temperature 0 so a rerun gives the
same score. `parse_rating` reads the last explicit "Rating: N" the rubric asks for and falls back to
AudioBench's last-token rule when there is none. On well-formed replies ("... Rating: 4") the two
agree; ours also reads "Rating: **4**" and "Rating: 3 out of 5" (AudioBench: 0 and 5). The parse
method is recorded per item, and only failures score 0.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

from audiollm.errors import ConfigError

_HEADER = """[Reference Answer]
{reference}

[Model Answer]
{prediction}

[Question]
{question}

[Task]
Rate the model's answer based on its alignment with the reference answer, focusing on accuracy and relevance to the reference provided. Please be critical on the details.
"""
_FOOTER = """
Your response should be formatted as follows:
Explanation: (Provide a concise explanation of your rating, comparing the reference answer with the model's response. "The reference answer is [XXX], while the model's answer is [YYY]. I think ...")
Rating: (int)"""

RUBRICS = {
    "open": _HEADER + """Criteria: Assess if the model's response mirrors the reference in terms of content, accuracy, and relevance.
Score0: The answer is completely misaligned, providing incorrect or irrelevant information compared to the reference.
Score1: The answer shows minimal alignment, often misunderstanding or providing irrelevant details unrelated to the reference.
Score2: The answer recognizes the topic but diverges significantly from the reference in accuracy or relevance.
Score3: The answer aligns with the reference generally but lacks detail or precise accuracy in some aspects.
Score4: The answer is mostly accurate and relevant, closely following the reference but could be clearer or more detailed.
Score5: The answer is highly accurate, detailed, and matches the reference answer perfectly, capturing its essence and detail.
""" + _FOOTER,
    "binary": _HEADER + """Criteria: Assess if the model's response mirrors the reference in terms of content, accuracy, and relevance. Please give a score of 0 or 1.
Score0: The answer is wrong, providing incorrect or irrelevant information compared to the reference.
Score1: The answer is correct, capturing or covering the meaning from the reference.
""" + _FOOTER,
}
# Highest rating and the factor that turns a mean rating into a 0-100 score.
RUBRIC_SCALE = {"open": (5, 20.0), "binary": (1, 100.0)}
RUBRIC_VERSION = "audiobench-llama3-70b-judge-1"

_RATING = re.compile(r"rating\s*[:=]?\s*\**\s*\[?\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass
class Rating:
    """One parsed judge reply: score on the rubric's own scale, and how it was found."""

    score: float
    method: str  # "last_token", "rating_line", or "failed"

    @property
    def ok(self) -> bool:
        """True if a rating was found."""
        return self.method != "failed"


def parse_rating(reply: str, rubric: str = "open") -> Rating:
    """Read the rating from a judge reply; out-of-range or missing ratings fail with score 0."""
    top = RUBRIC_SCALE[rubric][0]
    candidates = []
    found = _RATING.findall(reply)
    if found:
        candidates.append((float(found[-1]), "rating_line"))
    tokens = reply.strip().split()
    if tokens:
        try:
            candidates.append((float(tokens[-1]), "last_token"))
        except ValueError:
            pass
    for score, method in candidates[:1]:
        if 0 <= score <= top:
            return Rating(score, method)
    return Rating(0.0, "failed")


def render_prompt(rubric: str, question: str, reference: str, prediction: str) -> str:
    """The judge prompt for one item."""
    if rubric not in RUBRICS:
        raise ConfigError(f"unknown judge rubric {rubric!r}; expected one of {sorted(RUBRICS)}")
    return RUBRICS[rubric].format(question=question, reference=reference, prediction=prediction)


def scaled_score(ratings: Sequence[Rating], rubric: str) -> float:
    """AudioBench's 0-100 score: mean rating (failures count as 0) times the rubric factor."""
    if not ratings:
        return float("nan")
    return sum(r.score for r in ratings) / len(ratings) * RUBRIC_SCALE[rubric][1]


def _base_url(url: str) -> str:
    """Accept "http://host:port", ".../v1" or ".../v1/chat/completions"; return the /v1 root."""
    url = url.rstrip("/")
    for suffix in ("/chat/completions", "/completions"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
    return url if url.endswith("/v1") else url + "/v1"


class JudgeClient:
    """Asks an OpenAI-compatible chat endpoint to rate answers.

    url: the server ("http://localhost:8000" or its /v1 root). model: the judge model id; when None,
    the first id the server lists under /v1/models (what AudioBench did). Requests run `workers` at
    a time; each reply is kept verbatim so a report can show why a score was given.
    """

    def __init__(self, url: str, model: str | None = None, api_key: str | None = None,
                 max_tokens: int = 512, timeout: float = 120.0, workers: int = 4,
                 transport=None) -> None:
        import httpx

        self.base_url = _base_url(url)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout,
                                    transport=transport)
        self.max_tokens = max_tokens
        self.workers = max(1, workers)
        self._model = model

    @property
    def model(self) -> str:
        """The judge model id, asked from the server once when not given."""
        if self._model is None:
            data = self._request("GET", "/models").get("data") or []
            if not data:
                raise ConfigError(f"judge server {self.base_url} lists no models; pass --judge-model")
            self._model = data[0]["id"]
        return self._model

    def identity(self) -> dict:
        """Identity and settings to record beside judge scores."""
        return {"url": self.base_url, "model": self.model, "temperature": 0.0,
                "max_tokens": self.max_tokens, "rubric_version": RUBRIC_VERSION}

    def _request(self, method: str, path: str, payload: dict | None = None) -> dict:
        """One HTTP call; network and HTTP failures become a ConfigError naming the server."""
        import httpx

        try:
            response = self._client.request(method, path, json=payload)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise ConfigError(f"judge server {self.base_url} failed on {path}: {error}; check "
                              "--judge-url/--judge-model, or drop --judge-url to skip the judge") from None

    def ask(self, prompt: str) -> str:
        """The judge's reply text to one prompt."""
        payload = {"model": self.model, "messages": [{"role": "user", "content": prompt}],
                   "temperature": 0.0, "max_tokens": self.max_tokens}
        reply = self._request("POST", "/chat/completions", payload)
        return (reply["choices"][0]["message"].get("content") or "").strip()

    def rate(self, prompts: Sequence[str]) -> list[str]:
        """Replies to many prompts, in order, `workers` requests in flight."""
        self.model  # resolve once before the threads start
        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(self.ask, prompts))

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
