"""Instruction wordings for the six tasks, in English, Mandarin, Malay and Tamil.

`pick_instruction(rng, task, language, holdout, **fields)` returns one wording with its fields filled.
About one wording in seven is held out (a stable hash) for the unseen-template split. Placeholders:
{target} (target language name, ST), {question} (SQA), {choices} (PARA). Answers stay in English for
SQA, SDS, SI and PARA (PARA answers are one of the listed English labels).
"""

from __future__ import annotations

import random
import zlib

from audiollm.errors import ConfigError

LANGUAGE_NAMES = {
    "en": {"en": "English", "zh": "Mandarin Chinese", "ms": "Malay", "ta": "Tamil"},
    "zh": {"en": "英语", "zh": "华语", "ms": "马来语", "ta": "淡米尔语"},
    "ms": {"en": "bahasa Inggeris", "zh": "bahasa Mandarin", "ms": "bahasa Melayu", "ta": "bahasa Tamil"},
    "ta": {"en": "ஆங்கிலம்", "zh": "மாண்டரின்", "ms": "மலாய்", "ta": "தமிழ்"},
}

_W = {
    ("asr", "en"): """Transcribe the audio.
Please transcribe this speech.
Write down exactly what is said.
What is being said in this recording? Give the exact words.
Convert the speech to text.
Provide a verbatim transcript of the audio.
Transcribe the following audio clip word for word.
Listen and write out what the speaker says.
Can you transcribe this for me?
Give me the transcription of this audio.
Turn this recording into text.
Type out the spoken words.
What did the speaker say? Write it down verbatim.
Please write down the speech in the audio.
Transcribe the utterance.
Produce the transcript of this clip.
Write the words you hear.
I need a transcript of this audio, please.
Recognise the speech and output the text.
Transcribe what you hear, keeping every word.
Dictation: write down what is said.
Please provide the text of this voice message.
Write out this audio in full.
Transcribe this recording accurately.
Give a word-for-word transcript.
Listen carefully and transcribe.
What words are spoken here?
Note down the speech exactly as spoken.
Help me transcribe this clip.
Output the spoken content as text.
Transcribe the speech in the audio into text.
Write a transcript of the speaker's words.""",
    ("asr", "zh"): "请转写这段音频。\n把你听到的话写下来。\n请把这段语音转成文字。\n这段录音说了什么？请逐字写出。\n请听写这段话。",
    ("asr", "ms"): "Sila transkripsikan audio ini.\nTulis apa yang dikatakan.\nTukarkan ucapan ini kepada teks.\nApakah yang disebut dalam rakaman ini? Tulis perkataan yang tepat.\nDengar dan tulis semula ucapan ini.",
    ("asr", "ta"): "இந்த ஒலிப்பதிவை எழுத்தாக்கவும்.\nகேட்பதை அப்படியே எழுதவும்.\nஇந்தப் பேச்சை உரையாக மாற்றவும்.\nஇந்தப் பதிவில் என்ன சொல்லப்படுகிறது? சரியான வார்த்தைகளை எழுதவும்.\nகேட்டு எழுதவும்.",
    ("st", "en"): """Translate the speech into {target}.
Please translate this audio into {target}.
What is said here? Answer in {target}.
Listen and translate what you hear into {target}.
Give the {target} translation of this recording.
Translate the spoken sentence to {target}.
Render this speech in {target}.
Can you translate this into {target}?
Translate the audio to {target} text.
Provide a {target} translation of the utterance.
How would you say this in {target}? Translate the speech.
Write the meaning of this audio in {target}.
Convert this speech into written {target}.
Translate into {target}: listen to the clip.
I need this recording in {target}, please translate.
Translate what the speaker says into {target}.
Give me a {target} version of this speech.
Speech translation to {target}, please.
Translate the following clip into {target}.
Please provide the {target} translation.
Listen to the speaker and write the {target} translation.
Translate this voice note into {target}.
Put this speech into {target}.
What does the speaker say, in {target}?
Translate the recording, output only {target}.
Translate this sentence from the audio into {target}.
Turn the spoken words into {target} text.
Help me translate this audio clip into {target}.""",
    ("st", "zh"): "请把这段话翻译成{target}。\n把录音内容翻译成{target}。\n这段话用{target}怎么说？\n请将语音翻译为{target}。",
    ("st", "ms"): "Terjemahkan ucapan ini ke dalam {target}.\nSila terjemahkan audio ini ke {target}.\nApakah maksud rakaman ini dalam {target}?\nTukarkan ucapan ini kepada {target}.",
    ("st", "ta"): "இந்தப் பேச்சை {target} மொழியில் மொழிபெயர்க்கவும்.\nஇந்த ஒலிப்பதிவை {target} மொழிக்கு மொழிபெயர்க்கவும்.\nஇதை {target} மொழியில் எப்படிச் சொல்வது?\nகேட்டதை {target} மொழியில் எழுதவும்.",
    ("sqa", "en"): """{question}
Listen to the audio and answer: {question}
Based on the recording, answer the question. {question}
Answer briefly using the audio. {question}
Question about the audio: {question}
{question} Answer in a few words.
According to the speaker, {question_lc}
From what you hear, {question_lc}
Using only the information in the audio, answer: {question}
Here is a question about the clip. {question}
{question} Please answer based on the audio.
The audio contains the answer. {question}
Listen carefully. {question}
Please answer this question about the recording: {question}
Give a short answer. {question}
Refer to the audio. {question}
{question} Keep your answer short.
Answer the question using the passage you heard. {question}
In the audio, {question_lc}
After listening, answer: {question}
Quick question about this recording: {question}
{question} Reply with just the answer.
Based on what was said, {question_lc}
Your task: answer the question from the audio. {question}
Listen to the passage. {question}""",
    ("sqa", "zh"): "根据录音回答问题：{question}\n请听录音，然后回答：{question}\n{question}请简短回答。",
    ("sqa", "ms"): "Berdasarkan rakaman, jawab soalan ini: {question}\nDengar audio dan jawab: {question}\n{question} Jawab dengan ringkas.",
    ("sqa", "ta"): "ஒலிப்பதிவின் அடிப்படையில் பதில் சொல்லவும்: {question}\nகேட்டுவிட்டுப் பதிலளிக்கவும்: {question}\n{question} சுருக்கமாகப் பதிலளிக்கவும்.",
    ("sds", "en"): """Summarise the conversation.
Who wants what in this dialogue? Summarise it.
Give a short summary of this conversation.
Summarise what each speaker wants.
What did the speakers agree on? Write a brief summary.
Write a summary of the dialogue.
Briefly summarise the discussion.
Please summarise this conversation in a few sentences.
Summarise the key points of this dialogue.
What is this conversation about? Summarise who wants what.
Give me the gist of this dialogue.
Summarise the requests made in the conversation.
Write a short summary: who asked for what?
Provide a concise summary of the conversation.
Summarise the dialogue, mentioning each person's request.
Listen to the conversation and summarise it.
Sum up this exchange.
What was decided in this conversation? Summarise.
Write minutes for this short conversation.
Summarise the call.
In a few sentences, what happened in this dialogue?
Summarise the outcome of the discussion.
Give a brief summary of what the speakers want.
Summarise this recording of people talking.
Recap the conversation briefly.""",
    ("sds", "zh"): "请总结这段对话。\n这段对话中谁想要什么？请简要总结。\n请用几句话概括这段对话。",
    ("sds", "ms"): "Ringkaskan perbualan ini.\nSiapa mahu apa dalam dialog ini? Ringkaskan.\nBerikan ringkasan pendek perbualan ini.",
    ("sds", "ta"): "இந்த உரையாடலைச் சுருக்கமாகக் கூறவும்.\nயார் என்ன விரும்புகிறார்கள்? சுருக்கமாக எழுதவும்.\nஇந்த உரையாடலின் சுருக்கத்தை எழுதவும்.",
    ("si", "en"): """Respond to the spoken instruction.
Listen to the request and answer it.
Answer the question in the audio.
Do what the speaker asks.
Please reply to the speaker.
Follow the instruction in the recording.
The speaker asks you something. Respond.
Answer the spoken question.
Respond to the audio.
Reply to this voice message appropriately.
What is the answer to the speaker's question?
Listen and respond.
Carry out the spoken request.
Give the speaker an answer.
Please respond to what you hear.
Answer the voice query.
The audio contains a question or instruction. Respond to it.
Reply to the request in the clip.
Respond helpfully to the speaker.
Handle the spoken request.
Answer what is asked in the recording.
Listen to the instruction and do it.
Provide the response the speaker wants.
Respond to the user's spoken query.
Answer the spoken request concisely.""",
    ("si", "zh"): "请回答录音中的问题。\n请按照语音中的要求回答。\n听一听，然后回应说话人。",
    ("si", "ms"): "Jawab soalan dalam audio.\nIkut arahan dalam rakaman.\nDengar dan beri jawapan kepada penutur.",
    ("si", "ta"): "ஒலிப்பதிவில் உள்ள கேள்விக்குப் பதிலளிக்கவும்.\nபேசுபவரின் கோரிக்கைக்குப் பதிலளிக்கவும்.\nகேட்டுவிட்டுப் பதில் சொல்லவும்.",
}

# Paralinguistic questions, one list per attribute; {choices} lists the closed-set labels.
_PARA = {
    "gender": """Is the speaker male or female? Choose from: {choices}.
What is the gender of the speaker? Options: {choices}.
Identify the speaker's gender ({choices}).
Does this voice belong to a man or a woman? Answer with one of: {choices}.
Classify the speaker's gender. Choices: {choices}.
Tell me the speaker's gender, one of {choices}.
Which gender does the voice sound like? Pick one: {choices}.
Speaker gender? Answer {choices}.""",
    "rate": """How fast is the speaker talking? Choose from: {choices}.
Describe the speaking rate. Options: {choices}.
Is the speech slow, normal or fast? Answer with one of: {choices}.
Classify the speaking speed ({choices}).
What is the pace of this speech? Pick one: {choices}.
Rate the tempo of the speaker's delivery: {choices}.
How quickly does the person speak? One of {choices}.""",
    "pitch": """How high is the speaker's voice? Choose from: {choices}.
Describe the pitch of the voice. Options: {choices}.
Is the voice low, medium or high pitched? Answer with one of: {choices}.
Classify the voice pitch ({choices}).
What pitch level does the speaker use? Pick one: {choices}.
Rate how deep or high the voice is: {choices}.
Voice pitch? Answer one of {choices}.""",
    "accent": """What accent does the speaker have? Choose from: {choices}.
Identify the speaker's accent. Options: {choices}.
Which English accent is this? Answer with one of: {choices}.
Where does the speaker's accent come from? Pick one: {choices}.
Classify the accent of this English speech ({choices}).
Describe the speaker's accent, choosing from {choices}.
Which of these accents matches the voice: {choices}?""",
    "language": """Which language is spoken? Choose from: {choices}.
Identify the language of this recording. Options: {choices}.
What language is the speaker using? Answer with one of: {choices}.
Classify the spoken language ({choices}).
Which of these languages do you hear: {choices}?
Name the language of the speech. Pick one: {choices}.
Language identification: {choices}.""",
    "num_speakers": """How many different speakers are in this recording? Choose from: {choices}.
Count the number of distinct voices. Options: {choices}.
How many people are talking? Answer with one of: {choices}.
Number of speakers in the audio? Pick one: {choices}.
How many distinct speakers can you hear ({choices})?
Count the speakers in this clip, choosing from {choices}.
How many voices take part in this recording? One of {choices}.""",
}
_PARA_OTHER = {
    "zh": "请判断：{question_zh}选项：{choices}。",
    "ms": "Sila tentukan: {question_ms} Pilihan: {choices}.",
    "ta": "தீர்மானிக்கவும்: {question_ta} தேர்வுகள்: {choices}.",
}
_PARA_QUESTIONS = {
    "gender": ("说话人的性别是什么？", "Apakah jantina penutur?", "பேசுபவரின் பாலினம் என்ன?"),
    "rate": ("说话的速度怎么样？", "Bagaimanakah kelajuan pertuturan?", "பேச்சின் வேகம் எப்படி உள்ளது?"),
    "pitch": ("声音的音调高低如何？", "Bagaimanakah nada suara penutur?", "குரலின் சுருதி எப்படி உள்ளது?"),
    "accent": ("说话人是什么口音？", "Apakah loghat penutur?", "பேசுபவரின் உச்சரிப்பு எது?"),
    "language": ("录音里说的是哪种语言？", "Bahasa apakah yang dituturkan?", "எந்த மொழி பேசப்படுகிறது?"),
    "num_speakers": ("录音里有几个不同的说话人？", "Berapa orang penutur dalam rakaman?",
                     "பதிவில் எத்தனை பேர் பேசுகிறார்கள்?"),
}


def _holdout(text: str) -> bool:
    return zlib.crc32(text.encode()) % 7 == 0


def wordings(task: str, language: str, attribute: str | None = None) -> list[str]:
    """Every wording for a task (and PARA attribute) in one instruction language."""
    if task == "para":
        if language == "en":
            return _PARA[attribute].splitlines()
        index = ("zh", "ms", "ta").index(language)
        question = _PARA_QUESTIONS[attribute][index]
        return [_PARA_OTHER[language].replace("{question_" + language + "}", question)]
    if (task, language) not in _W:
        raise ConfigError(f"no instruction wordings for task {task!r} in {language!r}")
    return _W[(task, language)].splitlines()


def held_out(options) -> set:
    """The held-out members of a wording list: a stable hash picks them; a list of two or more
    that the hash leaves empty gives up its last wording, so every split has its own."""
    held = {w for w in options if _holdout(w)}
    if not held and len(options) >= 2:
        held = {options[-1]}
    return held if len(held) < len(options) else set()


def pick_wording(rng: random.Random, options, holdout: bool) -> str:
    """One of `options` from the seen group, or from the held-out group when `holdout` (if it has any)."""
    options = list(options)
    held = held_out(options)
    group = [w for w in options if (w in held) == holdout] or options
    return rng.choice(group)


def pick_instruction(rng: random.Random, task: str, language: str, holdout: bool,
                     attribute: str | None = None, **fields) -> str:
    """A random wording for `task` in `language` from the seen (or held-out) group, filled in."""
    text = pick_wording(rng, wordings(task, language, attribute), holdout)
    if "question" in fields:
        question = fields["question"]
        fields.setdefault("question_lc", question[0].lower() + question[1:])
    if "target" in fields:
        fields["target"] = LANGUAGE_NAMES[language][fields["target"]]
    return text.format(**fields)
