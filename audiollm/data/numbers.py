"""Numbers, prices, times, dates and phone numbers spelled out in English, Mandarin, Malay and Tamil.

Transcripts in the corpus are verbatim: the text fed to the TTS engine is the text in the manifest,
so every number is written as the words a speaker says ("four dollars fifty", "四块五", ...).
Each function takes a language code ("en", "zh", "ms", "ta") and returns a string; the compact
English display forms ("$4.50", "7:30 pm") used in short answers come from the `display_*` helpers.
"""

from __future__ import annotations

from audiollm.errors import ConfigError

LANGUAGES = ("en", "zh", "ms", "ta")

_EN_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
            "fifteen sixteen seventeen eighteen nineteen").split()
_EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_EN_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
               "nine": "ninth", "twelve": "twelfth"}

_ZH_DIGITS = "零一二三四五六七八九"

_MS_ONES = "kosong satu dua tiga empat lima enam tujuh lapan sembilan".split()

_TA_ONES = ("பூஜ்ஜியம் ஒன்று இரண்டு மூன்று நான்கு ஐந்து ஆறு ஏழு எட்டு ஒன்பது பத்து பதினொன்று பன்னிரண்டு "
            "பதிமூன்று பதினான்கு பதினைந்து பதினாறு பதினேழு பதினெட்டு பத்தொன்பது").split()
# Tens: the standalone form, then the form used before a unit ("இருபத்து ஐந்து" = 25).
_TA_TENS = {2: ("இருபது", "இருபத்து"), 3: ("முப்பது", "முப்பத்து"), 4: ("நாற்பது", "நாற்பத்து"),
            5: ("ஐம்பது", "ஐம்பத்து"), 6: ("அறுபது", "அறுபத்து"), 7: ("எழுபது", "எழுபத்து"),
            8: ("எண்பது", "எண்பத்து"), 9: ("தொண்ணூறு", "தொண்ணூற்று")}
_TA_HUNDREDS = {1: ("நூறு", "நூற்று"), 2: ("இருநூறு", "இருநூற்று"), 3: ("முந்நூறு", "முந்நூற்று"),
                4: ("நானூறு", "நானூற்று"), 5: ("ஐந்நூறு", "ஐந்நூற்று"), 6: ("அறுநூறு", "அறுநூற்று"),
                7: ("எழுநூறு", "எழுநூற்று"), 8: ("எண்ணூறு", "எண்ணூற்று"), 9: ("தொள்ளாயிரம்", "தொள்ளாயிரத்து")}
# Day-of-month ordinals ("ஒன்பதாம் தேதி"); the sandhi is irregular enough to list outright.
_TA_DAY_ORDINALS = ("_ ஒன்றாம் இரண்டாம் மூன்றாம் நான்காம் ஐந்தாம் ஆறாம் ஏழாம் எட்டாம் ஒன்பதாம் பத்தாம் "
                    "பதினொன்றாம் பன்னிரண்டாம் பதிமூன்றாம் பதினான்காம் பதினைந்தாம் பதினாறாம் பதினேழாம் "
                    "பதினெட்டாம் பத்தொன்பதாம் இருபதாம் இருபத்தொன்றாம் இருபத்திரண்டாம் இருபத்துமூன்றாம் "
                    "இருபத்துநான்காம் இருபத்தைந்தாம் இருபத்தாறாம் இருபத்தேழாம் இருபத்தெட்டாம் "
                    "இருபத்தொன்பதாம் முப்பதாம் முப்பத்தொன்றாம்").split()

MONTHS = {
    "en": "January February March April May June July August September October November December".split(),
    "ms": "Januari Februari Mac April Mei Jun Julai Ogos September Oktober November Disember".split(),
    "ta": ("ஜனவரி பிப்ரவரி மார்ச் ஏப்ரல் மே ஜூன் ஜூலை ஆகஸ்ட் செப்டம்பர் அக்டோபர் நவம்பர் டிசம்பர்").split(),
}
WEEKDAYS = {
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "zh": "星期一 星期二 星期三 星期四 星期五 星期六 星期天".split(),
    "ms": "Isnin Selasa Rabu Khamis Jumaat Sabtu Ahad".split(),
    "ta": "திங்கள்கிழமை செவ்வாய்க்கிழமை புதன்கிழமை வியாழக்கிழமை வெள்ளிக்கிழமை சனிக்கிழமை ஞாயிற்றுக்கிழமை".split(),
}


def _check(language: str) -> None:
    if language not in LANGUAGES:
        raise ConfigError(f"unsupported language {language!r}; expected one of {LANGUAGES}")


def _en(n: int) -> str:
    if n < 20:
        return _EN_ONES[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        return _EN_TENS[tens] + (f"-{_EN_ONES[unit]}" if unit else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_EN_ONES[hundreds]} hundred" + (f" and {_en(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    joiner = " and " if 0 < rest < 100 else " "
    return f"{_en(thousands)} thousand" + (joiner + _en(rest) if rest else "")


def _zh(n: int) -> str:
    if n < 10:
        return _ZH_DIGITS[n]
    if n < 20:
        return "十" + (_ZH_DIGITS[n - 10] if n > 10 else "")
    if n >= 10000:
        high, rest = divmod(n, 10000)
        return _zh(high) + "万" + (("零" if rest < 1000 else "") + _zh(rest) if rest else "")
    out, zero_pending = "", False
    for value, unit in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = (n // value) % 10
        if digit == 0:
            zero_pending = bool(out)
            continue
        if zero_pending:
            out += "零"
            zero_pending = False
        out += _ZH_DIGITS[digit] + unit
    return out


def _ms(n: int) -> str:
    if n < 10:
        return _MS_ONES[n]
    if n == 10:
        return "sepuluh"
    if n == 11:
        return "sebelas"
    if n < 20:
        return f"{_MS_ONES[n - 10]} belas"
    if n < 100:
        tens, unit = divmod(n, 10)
        return f"{_MS_ONES[tens]} puluh" + (f" {_MS_ONES[unit]}" if unit else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        head = "seratus" if hundreds == 1 else f"{_MS_ONES[hundreds]} ratus"
        return head + (f" {_ms(rest)}" if rest else "")
    thousands, rest = divmod(n, 1000)
    head = "seribu" if thousands == 1 else f"{_ms(thousands)} ribu"
    return head + (f" {_ms(rest)}" if rest else "")


def _ta(n: int) -> str:
    if n < 20:
        return _TA_ONES[n]
    if n < 100:
        tens, unit = divmod(n, 10)
        alone, joined = _TA_TENS[tens]
        return f"{joined} {_TA_ONES[unit]}" if unit else alone
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        alone, joined = _TA_HUNDREDS[hundreds]
        return f"{joined} {_ta(rest)}" if rest else alone
    thousands, rest = divmod(n, 1000)
    head = "ஆயிரம்" if thousands == 1 else f"{_ta(thousands)} ஆயிரம்"
    if rest:
        head = "ஆயிரத்து" if thousands == 1 else f"{_ta(thousands)} ஆயிரத்து"
        return f"{head} {_ta(rest)}"
    return head


_SPELLERS = {"en": _en, "zh": _zh, "ms": _ms, "ta": _ta}


def number_words(n: int, language: str) -> str:
    """Spell a whole number 0..99,999 in `language` ("en": 'twenty-five', "zh": '二十五', ...)."""
    _check(language)
    if not 0 <= n < 100000:
        raise ConfigError(f"number_words supports 0..99999, got {n}")
    return _SPELLERS[language](n)


def price_words(cents: int, language: str) -> str:
    """Say a Singapore-dollar amount the way a stallholder would: 'four dollars fifty', '四块五'."""
    _check(language)
    dollars, rest = divmod(cents, 100)
    if language == "en":
        head = f"{_en(dollars)} dollar{'s' if dollars != 1 else ''}" if dollars else ""
        tail = f"{_en(rest)} cent{'s' if rest != 1 else ''}" if rest else ""
        return " ".join(part for part in (head, tail) if part) or "zero dollars"
    if language == "zh":
        return _zh_price(dollars, rest)
    if language == "ms":
        head = f"{_ms(dollars)} dolar" if dollars else ""
        tail = f"{_ms(rest)} sen" if rest else ""
        return " ".join(part for part in (head, tail) if part)
    # "ஒரு", the attributive form of one, goes before a noun.
    head = ("ஒரு வெள்ளி" if dollars == 1 else f"{_ta(dollars)} வெள்ளி") if dollars else ""
    tail = f"{_ta(rest)} காசு" if rest else ""
    return " ".join(part for part in (head, tail) if part)


def _zh_price(dollars: int, cents: int) -> str:
    """'四块五' for 4.50, '两块零五分' for 2.05, '五毛' for 0.50 (Singapore Mandarin money talk)."""
    spell = lambda n: "两" if n == 2 else _zh(n)  # noqa: E731 - 两, not 二, before a measure word
    head = f"{spell(dollars)}块" if dollars else ""
    if cents == 0:
        return head or "零块"
    if cents % 10 == 0:
        return head + (_zh(cents // 10) if dollars else f"{spell(cents // 10)}毛")
    if cents < 10:
        return head + ("零" if dollars else "") + f"{_zh(cents)}分"
    return head + f"{_zh(cents)}分"


def display_price(cents: int) -> str:
    """'$4.50' — the compact form used in short answers."""
    return f"${cents // 100}.{cents % 100:02d}"


def _period(hour: int, language: str) -> str:
    index = 0 if hour < 12 else 1 if hour < 18 else 2
    return {"en": ("in the morning", "in the afternoon", "in the evening"),
            "zh": ("上午", "下午", "晚上"), "ms": ("pagi", "petang", "malam"),
            "ta": ("காலை", "மதியம்", "மாலை")}[language][index]


def time_words(hour: int, minute: int, language: str) -> str:
    """Say a clock time (24-hour input) with a part of day: 'seven thirty in the evening'."""
    _check(language)
    h12 = hour % 12 or 12
    if language == "en":
        if minute == 0:
            clock = f"{_en(h12)} o'clock"
        elif minute == 30:
            clock = f"half past {_en(h12)}"
        else:
            clock = f"{_en(h12)} {'oh ' + _en(minute) if minute < 10 else _en(minute)}"
        return f"{clock} {_period(hour, 'en')}"
    if language == "zh":
        tail = "" if minute == 0 else "半" if minute == 30 else f"{_zh(minute)}分"
        hour_word = "两" if h12 == 2 else _zh(h12)
        return f"{_period(hour, 'zh')}{hour_word}点{tail}"
    if language == "ms":
        tail = "" if minute == 0 else " setengah" if minute == 30 else f" {_ms(minute)} minit"
        return f"pukul {_ms(h12)}{tail} {_period(hour, 'ms')}"
    tail = "" if minute == 0 else f" {_ta(minute)} நிமிடம்"
    return f"{_period(hour, 'ta')} {_ta(h12)} மணி{tail}"


def display_time(hour: int, minute: int) -> str:
    """'7:30 pm' — the compact form used in short answers."""
    suffix = "am" if hour < 12 else "pm"
    return f"{hour % 12 or 12}:{minute:02d} {suffix}"


def _en_ordinal(n: int) -> str:
    words = _en(n)
    last = words.split("-")[-1]
    if last in _EN_ORDINAL:
        ordinal = _EN_ORDINAL[last]
    elif last.endswith("y"):
        ordinal = last[:-1] + "ieth"
    else:
        ordinal = last + "th"
    return words[: len(words) - len(last)] + ordinal


def date_words(day: int, month: int, language: str) -> str:
    """Say a calendar date (day 1..31, month 1..12): 'the ninth of August', '八月九日'."""
    _check(language)
    if language == "en":
        return f"the {_en_ordinal(day)} of {MONTHS['en'][month - 1]}"
    if language == "zh":
        return f"{_zh(month)}月{_zh(day)}日"
    if language == "ms":
        return f"{_ms(day)} {MONTHS['ms'][month - 1]}"
    return f"{MONTHS['ta'][month - 1]} {_TA_DAY_ORDINALS[day]} தேதி"


def display_date(day: int, month: int) -> str:
    """'9 August' — the compact form used in short answers."""
    return f"{day} {MONTHS['en'][month - 1]}"


def phone_words(digits: str, language: str) -> str:
    """Read a phone number digit by digit in two groups of four, as Singaporeans do."""
    _check(language)
    speller = _SPELLERS[language]
    if language == "en":
        # "double" for a repeated digit is the common Singapore way of reading numbers aloud.
        groups = []
        for group in (digits[:4], digits[4:]):
            words, i = [], 0
            while i < len(group):
                if i + 1 < len(group) and group[i] == group[i + 1]:
                    words.append(f"double {speller(int(group[i]))}")
                    i += 2
                else:
                    words.append(speller(int(group[i])))
                    i += 1
            groups.append(" ".join(words))
        return ", ".join(groups)
    joiner = "" if language == "zh" else " "
    halves = (joiner.join(speller(int(d)) for d in part) for part in (digits[:4], digits[4:]))
    return ("，" if language == "zh" else ", ").join(halves)
