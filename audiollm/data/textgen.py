"""Seeded slot filling: turns a template into sentences in several languages plus question/answer pairs.

`TextSampler(rng, holdout)` draws every random choice from the `random.Random` it is given, so a
seed fixes the text. With `holdout=False` it only uses seen templates and seen entities; with
`holdout=True` it uses the held-out templates and, wherever the language allows, held-out entities
(the unseen-template test split).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from audiollm.data import lexicon, numbers, places
from audiollm.data.singlish import SINGLISH
from audiollm.data.templates import PARALLEL, Template, slot_kind
from audiollm.errors import ConfigError

ENTITY_POOLS = {
    "person": lexicon.PERSONS, "name": lexicon.NAMES, "food": lexicon.FOODS, "drink": lexicon.DRINKS,
    "agency": lexicon.AGENCIES, "subject": lexicon.SUBJECTS, "item": lexicon.ITEMS,
    "activity": lexicon.ACTIVITIES, "station": places.STATIONS, "town": places.TOWNS,
    "hawker": places.HAWKER_CENTRES, "landmark": places.LANDMARKS, "line": places.LINES,
}
# Small counts take 两, not 二, before a Mandarin measure word.
_COUNT_KINDS = {"count": (2, 9, ""), "days": (2, 14, " days"), "km": (2, 21, " kilometres"),
                "floor": (2, 25, ""), "counter": (1, 15, ""), "students": (20, 40, ""),
                "temp": (27, 35, " degrees Celsius"), "queue": (101, 999, ""), "bus": (2, 199, "")}
_MINUTES = (2, 3, 4, 5, 7, 8, 10, 12, 15, 20, 25, 30, 45)
_CLOCK_MINUTES = (0, 0, 0, 15, 30, 30, 45, 5, 10, 20, 40, 50)


@dataclass
class Value:
    """A slot value: spoken `forms` per language, a compact English `answer`, extra `attrs`."""

    kind: str
    forms: dict
    answer: str
    attrs: dict = field(default_factory=dict)


@dataclass
class Filled:
    """A filled template: the sentence per language and the value of every slot."""

    template: Template
    texts: dict
    values: dict

    def questions(self) -> list[tuple[str, str]]:
        """(English question, English short answer) for every slot the template asks about."""
        answers = {slot: value.answer for slot, value in self.values.items()}
        out = []
        for slot, (question, answer_format) in self.template.questions.items():
            answer = answer_format.format(**answers) if answer_format else answers[slot]
            out.append((question.format(**answers), answer))
        return out


def _number_value(kind: str, n: int, suffix: str) -> Value:
    forms = {lang: numbers.number_words(n, lang) for lang in numbers.LANGUAGES}
    if n == 2:
        forms["zh"] = "两"
    return Value(kind, forms, f"{n}{suffix}", {"value": n})


def _digits_value(kind: str, digits: str, answer: str) -> Value:
    """Numbers Singaporeans read digit by digit (HDB blocks, phone numbers)."""
    if kind == "phone":
        forms = {lang: numbers.phone_words(digits, lang) for lang in numbers.LANGUAGES}
    else:
        joiners = {"en": " ", "zh": "", "ms": " ", "ta": " "}
        forms = {lang: joiners[lang].join(numbers.number_words(int(d), lang) for d in digits)
                 for lang in numbers.LANGUAGES}
    return Value(kind, forms, answer, {"value": digits})


class TextSampler:
    """Fills templates with seeded random values; see the module docstring for `holdout`."""

    def __init__(self, rng: random.Random, holdout: bool = False):
        self.rng = rng
        self.holdout = holdout

    # ----- values -------------------------------------------------------------------------------
    def entity(self, kind: str, languages, exclude=()) -> Value:
        """A random entity of `kind` that can be said in every language in `languages`."""
        pool = [e for e in ENTITY_POOLS[kind]
                if all(lang in e.forms for lang in languages) and e.key not in exclude]
        seen = [e for e in pool if not e.holdout]
        held = [e for e in pool if e.holdout]
        choices = (held or seen) if self.holdout else seen
        if not choices:
            raise ConfigError(f"no {kind!r} entity can be said in {list(languages)}")
        chosen = self.rng.choice(choices)
        return Value(kind, dict(chosen.forms), chosen.key, dict(chosen.attrs))

    def value(self, kind: str, languages=("en",), exclude=()) -> Value:
        """A random value of any slot kind (entity, number, price, time, date, phone...)."""
        rng = self.rng
        if kind in ENTITY_POOLS:
            return self.entity(kind, languages, exclude)
        if kind in _COUNT_KINDS:
            low, high, suffix = _COUNT_KINDS[kind]
            return _number_value(kind, rng.randint(low, high), suffix)
        if kind == "minutes":
            return _number_value(kind, rng.choice(_MINUTES), " minutes")
        if kind == "price":
            cents = rng.choice((rng.randint(12, 150) * 10, rng.randint(2, 30) * 100))
            return Value(kind, {l: numbers.price_words(cents, l) for l in numbers.LANGUAGES},
                         numbers.display_price(cents), {"value": cents})
        if kind == "amount":
            dollars = rng.choice((rng.randint(20, 200), rng.randint(2, 90) * 10))
            return Value(kind, {l: numbers.price_words(dollars * 100, l) for l in numbers.LANGUAGES},
                         f"${dollars}", {"value": dollars * 100})
        if kind == "time":
            hour, minute = rng.randint(6, 22), rng.choice(_CLOCK_MINUTES)
            return Value(kind, {l: numbers.time_words(hour, minute, l) for l in numbers.LANGUAGES},
                         numbers.display_time(hour, minute), {"value": (hour, minute)})
        if kind == "day":
            index = rng.randrange(7)
            return Value(kind, {l: numbers.WEEKDAYS[l][index] for l in numbers.LANGUAGES},
                         numbers.WEEKDAYS["en"][index], {"value": index})
        if kind == "date":
            day, month = rng.randint(1, 28), rng.randint(1, 12)
            return Value(kind, {l: numbers.date_words(day, month, l) for l in numbers.LANGUAGES},
                         numbers.display_date(day, month), {"value": (day, month)})
        if kind == "phone":
            digits = rng.choice("689") + "".join(str(rng.randrange(10)) for _ in range(7))
            return _digits_value(kind, digits, f"{digits[:4]} {digits[4:]}")
        if kind == "block":
            digits = str(rng.randint(101, 999))
            return _digits_value(kind, digits, digits)
        if kind == "particle":
            particle = rng.choice(lexicon.PARTICLES)
            return Value(kind, {"en": particle}, particle)
        raise ConfigError(f"unknown slot kind {kind!r}")

    # ----- templates ----------------------------------------------------------------------------
    def templates(self, languages, english_only_ok: bool = True) -> list[Template]:
        """Templates usable in every language of `languages`, in this sampler's hold-out group."""
        pool = PARALLEL + (SINGLISH if english_only_ok else [])
        return [t for t in pool if t.holdout == self.holdout and all(l in t.texts for l in languages)]

    def fill(self, template: Template, languages) -> Filled:
        """Fill every slot of `template` once and render it in each of `languages`."""
        languages = tuple(dict.fromkeys(("en",) + tuple(languages)))
        languages = tuple(l for l in languages if l in template.texts)
        values: dict[str, Value] = {}
        for slot in template.slots:
            kind = slot_kind(slot)
            used = {v.answer for v in values.values() if v.kind == kind}
            values[slot] = self._distinct(kind, languages, used)
        texts = {}
        for lang in languages:
            text = template.texts[lang].format(**{slot: v.forms[lang] for slot, v in values.items()})
            texts[lang] = text[0].upper() + text[1:]
        return Filled(template, texts, values)

    def _distinct(self, kind: str, languages, used: set) -> Value:
        # Two slots of one kind ({name}, {name2}; {day}, {day2}) must differ, or questions become ambiguous.
        for _ in range(50):
            value = self.value(kind, languages, exclude=used)
            if value.answer not in used:
                return value
        raise ConfigError(f"could not draw two distinct {kind!r} values")

    def sentence(self, languages=("en",), english_only_ok: bool = True) -> Filled:
        """A random template filled in `languages` (English is always included)."""
        pool = self.templates(languages, english_only_ok)
        if not pool:
            raise ConfigError(f"no templates cover {list(languages)} (holdout={self.holdout})")
        return self.fill(self.rng.choice(pool), languages)
