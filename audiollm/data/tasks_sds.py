"""Spoken dialogue summarisation: 2-4 voices take turns (20-60 s) -> a summary of who wants what.

Each frame is a small scripted scene (hawker order, weekend plan, clinic call, office meeting,
government hotline, family dinner) whose facts are drawn first; the turns and the summary are
both written from those facts, so the summary is true by construction. Every named character
says or hears their name in the audio, and is voiced with a voice of the character's gender.
English only: the Mandarin, Malay and Tamil voices are too weak for minute-long dialogues.
"""

from __future__ import annotations

from audiollm.data.casting import draft
from audiollm.data.context import TaskContext

_OPTIONS = ("no chilli", "less oil", "extra spicy", "add one egg", "no spring onions", "takeaway")
_COMPLAINTS = ("a bad cough", "a sore throat", "back pain", "a diabetes review", "a flu vaccination",
               "a skin rash")
_EXTRAS = ("a blood pressure check", "a medical certificate", "a repeat prescription")
_REQUESTS = (("renew my passport", "ICA"), ("check my CPF savings", "CPF Board"),
             ("ask about my income tax bill", "IRAS"), ("apply for a new flat", "HDB"),
             ("renew my work pass", "the Ministry of Manpower"), ("ask about the bus routes", "LTA"))
_ADVICE = ("submit the form online", "bring your documents to the service centre", "log in with Singpass first")
_CLIENTS = ("Changi", "Marina", "Orchid", "Merlion", "Raffles", "Temasek")
# Small talk that changes no fact of the scene, inserted to bring dialogues up to 20-60 s.
_FILLERS = ("Wah, today so hot.", "Ya lor, the weather crazy these days.", "Okay, okay.", "Wait ah, let me think.",
            "Hmm, can lah.", "Sorry, the line not so clear just now.", "Aiyo, I almost forgot.",
            "Never mind, no rush.", "Steady.", "Ya, I also think so.", "Eh, the aircon here very cold.",
            "Hold on, my phone ringing.", "Okay, noted.", "Sure, no problem.", "Really ah?",
            "Hmm, sounds good to me.", "Wait, say again?", "Ok can, can.")


def _names(ctx: TaskContext, count: int) -> list:
    """`count` distinct people (short names) with their genders."""
    chosen, used = [], set()
    for _ in range(count):
        value = ctx.text.value("name", ("en",), exclude=used)
        used.add(value.answer)
        chosen.append(value)
    return chosen


def _v(ctx: TaskContext, kind: str):
    return ctx.text.value(kind)


def _hawker_order(ctx: TaskContext):
    people = _names(ctx, ctx.rng.choice((1, 2)))
    stall_gender = ctx.rng.choice(("male", "female"))
    title = "Uncle" if stall_gender == "male" else "Auntie"
    food, food2, drink = _v(ctx, "food"), _v(ctx, "food"), _v(ctx, "drink")
    count, price = _v(ctx, "count"), _v(ctx, "price")
    option, option2 = ctx.rng.sample(_OPTIONS, 2)
    a = people[0].answer
    turns = [("stall", "Hello, order here. Name for the queue number?"),
             (a, f"{a}. {title}, I want {count.forms['en']} {food.answer}, {option}."),
             ("stall", f"{count.forms['en'].capitalize()} {food.answer}, {option}. Anything else?"),
             (a, f"One {drink.answer} also, thanks.")]
    summary = f"{a} orders {count.answer} {food.answer} ({option}) and a {drink.answer}"
    if len(people) > 1:
        b = people[1].answer
        turns += [(a, f"Eh {b}, you want what?"), (b, f"For me one {food2.answer}, {option2}, please.")]
        summary += f"; {b} wants {food2.answer} ({option2})"
    turns += [("stall", f"Okay, total {price.forms['en']} {ctx.text.value('particle').answer}."),
              (a, "Can pay by PayNow?"), ("stall", "Can, scan the QR code on the wall.")]
    summary += f". The stallholder says the total is {price.answer}, payable by PayNow."
    roles = {"stall": stall_gender, **{p.answer: p.attrs["gender"] for p in people}}
    return turns, summary, roles


def _weekend_plan(ctx: TaskContext):
    people = _names(ctx, ctx.rng.choice((2, 3)))
    a, b = people[0].answer, people[1].answer
    day, activity, landmark = _v(ctx, "day"), _v(ctx, "activity"), _v(ctx, "landmark")
    food, hawker, station, time = _v(ctx, "food"), _v(ctx, "hawker"), _v(ctx, "station"), _v(ctx, "time")
    turns = [(a, f"Hey {b}, are you free on {day.answer}?"), (b, f"Should be free, {a}. Why?"),
             (a, f"I want to {activity.answer} at {landmark.answer}. Want to join?"),
             (b, f"Hmm, I prefer to eat {food.answer} at {hawker.answer} {ctx.text.value('particle').answer}.")]
    summary = (f"{a} wants to {activity.answer} at {landmark.answer}, while {b} prefers to eat "
               f"{food.answer} at {hawker.answer}")
    if len(people) > 2:
        c = people[2].answer
        drink = _v(ctx, "drink")
        turns += [(c, f"Count me in, {a}! But I want to buy {drink.answer} first.")]
        summary += f"; {c} joins but wants to buy {drink.answer} first"
    others = f"{b} and {people[2].answer}" if len(people) > 2 else b
    turns += [(a, f"Okay {others}, we do both. Meet at {station.answer} MRT station at {time.forms['en']}."),
              (b, "Can, see you there.")]
    summary += (f". They agree to meet at {station.answer} MRT station at {time.answer} on {day.answer}.")
    return turns, summary, {p.answer: p.attrs["gender"] for p in people}


def _clinic_call(ctx: TaskContext):
    patient = ctx.text.value("person")
    staff_gender = ctx.rng.choice(("male", "female"))
    town, day, time = _v(ctx, "town"), _v(ctx, "day"), _v(ctx, "time")
    complaint, extra = ctx.rng.choice(_COMPLAINTS), ctx.rng.choice(_EXTRAS)
    p = patient.answer
    turns = [("staff", f"Good morning, {town.answer} Polyclinic, how may I help you?"),
             (p, f"Hi, my name is {p}. I want to make an appointment for {complaint}."),
             ("staff", "Sure. Which day is better for you?"), (p, f"{day.answer} if possible."),
             ("staff", f"We have a slot on {day.answer} at {time.forms['en']}. Is that okay?"),
             (p, f"Yes, that is fine. Can I also get {extra}?"),
             ("staff", "Noted. Please bring your IC and come ten minutes early.")]
    summary = (f"{p} calls {town.answer} Polyclinic to book an appointment for {complaint} and also wants "
               f"{extra}. The clinic offers {day.answer} at {time.answer} and asks {p} to bring an IC and "
               f"come ten minutes early.")
    return turns, summary, {"staff": staff_gender, p: patient.attrs["gender"]}


def _office(ctx: TaskContext):
    people = _names(ctx, ctx.rng.choice((3, 4)))
    m, a, b = (p.answer for p in people[:3])
    client, date, day = ctx.rng.choice(_CLIENTS), _v(ctx, "date"), _v(ctx, "day")
    turns = [(m, f"Okay team, the {client} presentation is on {date.forms['en']}. Let us split the work."),
             (a, f"Sure {m}, I can do the slides, but I need the sales figures from {b}."),
             (b, f"No problem, I will send them to you by {day.answer}.")]
    summary = (f"{m} wants the team ready for the {client} presentation on {date.answer}. {a} will prepare "
               f"the slides and needs the sales figures from {b}, who will send them by {day.answer}")
    if len(people) > 3:
        c, time, food = people[3].answer, _v(ctx, "time"), _v(ctx, "food")
        turns += [(m, f"{c}, can you book the meeting room for {time.forms['en']}?"),
                  (c, f"Sure, I will book it and order {food.answer} for lunch.")]
        summary += f"; {c} will book the meeting room for {time.answer} and order {food.answer} for lunch"
    turns += [(m, f"Thanks {a}, thanks {b}. Steady {ctx.text.value('particle').answer}.")]
    return turns, summary + ".", {p.answer: p.attrs["gender"] for p in people}


def _hotline(ctx: TaskContext):
    caller, officer = ctx.text.value("person"), _names(ctx, 1)[0]
    request, agency = ctx.rng.choice(_REQUESTS)
    advice, phone, date = ctx.rng.choice(_ADVICE), _v(ctx, "phone"), _v(ctx, "date")
    c, o = caller.answer, officer.answer
    turns = [(o, f"Hello, {agency} hotline, this is {o} speaking."), (c, f"Hi, I am {c}. I want to {request}."),
             (o, "Sure, may I have your phone number?"), (c, f"It is {phone.forms['en']}."),
             (o, f"Thank you. Please {advice} by {date.forms['en']}."), (c, "Okay, thank you very much.")]
    summary = (f"{c} calls the {agency} hotline wanting to {request}. {o} takes the phone number "
               f"{phone.answer} and asks {c} to {advice} by {date.answer}.")
    return turns, summary, {c: caller.attrs["gender"], o: officer.attrs["gender"]}


def _family_dinner(ctx: TaskContext):
    people = _names(ctx, 2)
    a, b = people[0].answer, people[1].answer
    food, food2, hawker = _v(ctx, "food"), _v(ctx, "food"), _v(ctx, "hawker")
    time, subject = _v(ctx, "time"), _v(ctx, "subject")
    turns = [(b, f"{a}, what do you want for dinner tonight?"),
             (a, f"I want {food.answer} {ctx.text.value('particle').answer}."),
             (b, f"I feel like {food2.answer}. We can go {hawker.answer}, got both."),
             (a, f"Okay {b}, but I must be back before {time.forms['en']}, I have {subject.answer} tuition."),
             (b, "Fine, we go now then.")]
    summary = (f"{a} wants {food.answer} and {b} wants {food2.answer}, so they go to {hawker.answer}. "
               f"{a} must be back before {time.answer} for {subject.answer} tuition.")
    return turns, summary, {p.answer: p.attrs["gender"] for p in people}


FRAMES = {"hawker_order": _hawker_order, "weekend_plan": _weekend_plan, "clinic_call": _clinic_call,
          "office": _office, "hotline": _hotline}
HELDOUT_FRAMES = {"family_dinner": _family_dinner}


def build_sds(ctx: TaskContext, language: str = "en") -> dict:
    """One SDS example (English); the unseen-template split uses the held-out frame."""
    frames = HELDOUT_FRAMES if ctx.holdout else FRAMES
    name = ctx.rng.choice(sorted(frames))
    turns, summary, roles = frames[name](ctx)
    target = ctx.rng.uniform(20.0, 45.0)
    while len(turns) < 16 and sum(len(text) for _, text in turns) / 11.0 < target:
        position = ctx.rng.randint(1, len(turns))
        turns.insert(position, (ctx.rng.choice(list(roles)), ctx.rng.choice(_FILLERS)))
    role_names = list(roles)
    voices = ctx.cast.distinct_voices("en", len(role_names), genders=[roles[r] for r in role_names])
    voice_of = dict(zip(role_names, voices))
    settings = {r: ctx.cast.natural_settings(v) for r, v in voice_of.items()}
    segments = []
    for role, text in turns:
        segment = ctx.cast.segment(text, "en", voice=voice_of[role], pause=ctx.rng.uniform(0.3, 0.9))
        segment.speed, segment.pitch = settings[role]
        segments.append(segment)
    meta = {"transcript": " ".join(s.text for s in segments), "frame": name,
            "turns": [{"role": role, "voice": voice_of[role].id, "text": text} for role, text in turns],
            "num_speakers": len(role_names)}
    instruction_language = "en" if ctx.rng.random() < 0.9 else ctx.rng.choice(("zh", "ms", "ta"))
    return draft("sds", "en", ctx.instruction("sds", instruction_language), summary, segments, meta,
                 allow_babble=False)
