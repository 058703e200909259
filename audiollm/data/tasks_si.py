"""Spoken instructions: a spoken request (arithmetic, conversions, local facts, "list three ...") -> the response.

Every answer is computed from the values that were spoken (arithmetic, conversions, weekday and
clock sums, prices) or read from a small local knowledge table (MRT lines, agencies, food, national
facts), and the numbers behind it are kept in meta for checking: meta["kind"], meta["value"], and
for lists meta["valid"] (every acceptable item). meta["value"] is always a string (prices in
cents), so the manifests keep one type per field. Arithmetic is asked in all four languages; the
rest in English.
"""

from __future__ import annotations

from audiollm.data import lexicon, numbers, places
from audiollm.data.casting import draft
from audiollm.data.context import TaskContext
from audiollm.data.instructions import pick_wording

_OPS = {
    "+": {"en": ("What is {a} plus {b}?", "Can you add {a} and {b} for me?", "Quick one: {a} plus {b}, how much?",
                 "Please tell me the sum of {a} and {b}.", "Eh, {a} plus {b} equals what ah?"),
          "zh": ("{a}加{b}等于多少？", "请问{a}加{b}是多少？"), "ms": ("Berapakah {a} tambah {b}?",),
          "ta": ("{a} கூட்டல் {b} எவ்வளவு?",)},
    "-": {"en": ("What is {a} minus {b}?", "Subtract {b} from {a}, please.", "How much is {a} take away {b}?",
                 "{a} minus {b} is how much?"),
          "zh": ("{a}减{b}等于多少？",), "ms": ("Berapakah {a} tolak {b}?",), "ta": ("{a} கழித்தல் {b} எவ்வளவு?",)},
    "*": {"en": ("What is {a} times {b}?", "Multiply {a} by {b}.", "How much is {a} multiplied by {b}?",
                 "Can you work out {a} times {b}?"),
          "zh": ("{a}乘以{b}等于多少？",), "ms": ("Berapakah {a} darab {b}?",), "ta": ("{a} பெருக்கல் {b} எவ்வளவு?",)},
    "/": {"en": ("What is {a} divided by {b}?", "Divide {a} by {b}, please.", "How much is {a} divided by {b}?"),
          "zh": ("{a}除以{b}等于多少？",), "ms": ("Berapakah {a} bahagi {b}?",), "ta": ("{a} வகுத்தல் {b} எவ்வளவு?",)},
}
_CONVERSIONS = (("hours", "minutes", 60), ("minutes", "seconds", 60), ("kilometres", "metres", 1000),
                ("kilograms", "grams", 1000), ("dollars", "cents", 100), ("days", "hours", 24),
                ("weeks", "days", 7), ("litres", "millilitres", 1000))
_CONVERSION_WORDINGS = ("How many {small} are there in {n} {big}?", "Convert {n} {big} into {small}.",
                        "{n} {big} is how many {small}?", "Please tell me how many {small} make {n} {big}.")
_FOOD_FACTS = {"nasi lemak": "rice cooked in coconut milk", "chicken rice": "poached chicken with fragrant rice",
               "roti prata": "a crispy fried flatbread served with curry", "laksa": "a spicy coconut noodle soup",
               "kaya toast": "toast with coconut jam and butter", "bak kut teh": "a peppery pork rib soup",
               "satay": "grilled meat skewers with peanut sauce", "chilli crab": "crab in a sweet and spicy gravy",
               "char kway teow": "flat rice noodles fried with dark soy sauce", "ice kachang": "shaved ice with syrup and beans"}
_NATIONAL = (("When is Singapore's National Day?", "9 August"),
             ("What are the four official languages of Singapore?", "English, Mandarin, Malay and Tamil"),
             ("What is the national flower of Singapore?", "Vanda Miss Joaquim"),
             ("What number do I call for an ambulance in Singapore?", "995"),
             ("What number do I call for the police in Singapore?", "999"),
             ("What is the name of Singapore's national anthem?", "Majulah Singapura"),
             ("What currency is used in Singapore?", "the Singapore dollar"))
_LISTS = {"hawker dishes": [f.key for f in lexicon.FOODS], "local drinks": [d.key for d in lexicon.DRINKS],
          "HDB towns": [t.key for t in places.TOWNS], "places to visit in Singapore": [l.key for l in places.LANDMARKS],
          "hawker centres": [h.key for h in places.HAWKER_CENTRES]}
_LIST_WORDINGS = ("List three {what}.", "Name three {what}.", "Can you give me three {what}?",
                  "Tell me any three {what}, please.")


def _say(n: int, language: str) -> str:
    return numbers.number_words(n, language)


def _arithmetic(ctx: TaskContext, language: str):
    op = ctx.rng.choice("+-*/")
    if op == "*":
        a, b = ctx.rng.randint(2, 20), ctx.rng.randint(2, 12)
    elif op == "/":
        b = ctx.rng.randint(2, 12)
        a = b * ctx.rng.randint(2, 15)
    else:
        a, b = ctx.rng.randint(3, 500), ctx.rng.randint(2, 200)
        if op == "-" and b > a:
            a, b = b, a
    value = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}[op]
    text = pick_wording(ctx.rng, _OPS[op][language], ctx.holdout).format(a=_say(a, language), b=_say(b, language))
    return text, str(value), {"kind": "arithmetic", "op": op, "operands": [a, b], "value": str(value)}


def _conversion(ctx: TaskContext):
    big, small, factor = ctx.rng.choice(_CONVERSIONS)
    n = ctx.rng.randint(2, 12)
    text = pick_wording(ctx.rng, _CONVERSION_WORDINGS, ctx.holdout).format(n=_say(n, "en"), big=big, small=small)
    return text, f"{n * factor} {small}", {"kind": "conversion", "value": str(n * factor), "unit": small}


def _weekday(ctx: TaskContext):
    start, offset = ctx.rng.randrange(7), ctx.rng.randint(2, 20)
    days = numbers.WEEKDAYS["en"]
    text = f"If today is {days[start]}, what day will it be in {_say(offset, 'en')} days?"
    answer = days[(start + offset) % 7]
    return text, answer, {"kind": "weekday", "value": answer}


def _clock(ctx: TaskContext):
    hour, minute = ctx.rng.randint(6, 20), ctx.rng.choice((0, 10, 15, 30, 45))
    duration = ctx.rng.choice((15, 20, 25, 35, 40, 50, 70, 90))
    end = hour * 60 + minute + duration
    text = (f"My train leaves at {numbers.time_words(hour, minute, 'en')} and the ride takes "
            f"{_say(duration, 'en')} minutes. What time do I arrive?")
    answer = numbers.display_time(end // 60, end % 60)
    return text, answer, {"kind": "clock", "value": answer}


def _price(ctx: TaskContext):
    food, count = ctx.text.value("food"), ctx.rng.randint(2, 6)
    cents = ctx.rng.randint(25, 80) * 10
    text = (f"One plate of {food.answer} costs {numbers.price_words(cents, 'en')}. "
            f"How much for {_say(count, 'en')} plates?")
    return text, numbers.display_price(cents * count), {"kind": "price", "value": str(cents * count)}


def _fact(ctx: TaskContext):
    kind = ctx.rng.choice(("station", "agency", "food", "national"))
    if kind == "station":
        station = ctx.text.value("station")
        lines = station.attrs["lines"]
        answer = " and ".join(lines) if len(lines) < 3 else ", ".join(lines[:-1]) + " and " + lines[-1]
        return (f"Which MRT line or lines serve {station.answer} station?", answer,
                {"kind": "fact", "value": answer, "valid": lines})
    if kind == "agency":
        agency, duty = ctx.rng.choice(sorted(lexicon.AGENCY_FACTS.items()))
        return f"Which government agency handles {duty}?", agency, {"kind": "fact", "value": agency}
    if kind == "food":
        dish, description = ctx.rng.choice(sorted(_FOOD_FACTS.items()))
        return f"Which local dish is {description}?", dish, {"kind": "fact", "value": dish}
    question, answer = ctx.rng.choice(_NATIONAL)
    return question, answer, {"kind": "fact", "value": answer}


def _list_three(ctx: TaskContext):
    what = ctx.rng.choice(sorted(_LISTS))
    valid = _LISTS[what]
    answer = ", ".join(ctx.rng.sample(valid, 3))
    text = pick_wording(ctx.rng, _LIST_WORDINGS, ctx.holdout).format(what=what)
    return text, answer, {"kind": "list", "valid": valid, "count": 3}


_ENGLISH_KINDS = (_conversion, _weekday, _clock, _price, _fact, _list_three)


def build_si(ctx: TaskContext, language: str) -> dict:
    """One SI example: arithmetic in any language, the other kinds in English."""
    if language != "en" or ctx.rng.random() < 0.3:
        text, answer, meta = _arithmetic(ctx, language)
    else:
        text, answer, meta = ctx.rng.choice(_ENGLISH_KINDS)(ctx)
    segment = ctx.cast.segment(text, language)
    instruction_language = ctx.instruction_language(language)
    meta.update(transcript=text, instruction_language=instruction_language)
    return draft("si", language, ctx.instruction("si", instruction_language), answer, [segment], meta)
