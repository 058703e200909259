"""Singapore entities for the text generator: people, food, drinks, agencies, school and work words.

Every entity has an English key (also the form used in short English answers) and a surface form
per language it can be said in ("en", "zh", "ms", "ta"); a sentence in a language only uses
entities that have a form in it. About one entity in seven is held out (`Entity.holdout`, a stable
hash of its key, independent of the seed) and only ever appears in the unseen-template test split.
Places live in `places.py`.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

HOLDOUT_PERCENT = 15
# Small pools the hash happens to leave without a held-out member get one named here.
EXTRA_HOLDOUT = frozenset({"bandung", "soya bean milk", "wallet", "go cycling", "play football"})


@dataclass(frozen=True)
class Entity:
    """One nameable thing: `forms` maps language -> surface text; `attrs` holds extra facts."""

    kind: str
    key: str
    forms: dict = field(hash=False)
    attrs: dict = field(default_factory=dict, hash=False)

    @property
    def holdout(self) -> bool:
        """True for the entities reserved for the unseen-template split (stable across seeds).

        Decided by the name alone (or the person's full name), so "Bishan" the station and "Bishan"
        the town, or "Mei Ling" and "Lim Mei Ling", are held out together.
        """
        name = self.attrs.get("holdout_key", self.key)
        return name in EXTRA_HOLDOUT or zlib.crc32(name.encode()) % 100 < HOLDOUT_PERCENT


def rows_to_entities(kind: str, rows: str, languages=("en", "zh", "ms", "ta")) -> list[Entity]:
    """Parse 'en|zh|ms|ta' lines (an empty field = no form in that language) into entities."""
    out = []
    for line in rows.strip().splitlines():
        parts = [part.strip() for part in line.split("|")]
        forms = {lang: text for lang, text in zip(languages, parts) if text}
        out.append(Entity(kind, parts[0], forms))
    return out


# group | gender | English full | English short | 中文 full | 中文 short | தமிழ் full | தமிழ் short
_PEOPLE = """
chinese|male|Tan Wei Ming|Wei Ming|陈伟明|伟明||
chinese|female|Lim Mei Ling|Mei Ling|林美玲|美玲||
chinese|female|Lee Jia Hui|Jia Hui|李佳慧|佳慧||
chinese|male|Ng Kok Leong|Kok Leong|黄国良|国良||
chinese|female|Goh Siew Lan|Siew Lan|吴秀兰|秀兰||
chinese|male|Wong Kah Seng|Kah Seng|黄家成|家成||
chinese|male|Chua Boon Heng|Boon Heng|蔡文兴|文兴||
chinese|female|Ong Hui Min|Hui Min|王慧敏|慧敏||
chinese|male|Teo Jun Jie|Jun Jie|张俊杰|俊杰||
chinese|female|Koh Li Ting|Li Ting|许丽婷|丽婷||
chinese|female|Chen Xin Yi|Xin Yi|陈欣怡|欣怡||
chinese|male|Lau Chee Keong|Chee Keong|刘志强|志强||
chinese|female|Yeo Shu Fen|Shu Fen|杨淑芬|淑芬||
chinese|male|Sim Kai Wen|Kai Wen|沈凯文|凯文||
chinese|female|Low Pei Shan|Pei Shan|刘佩珊|佩珊||
chinese|male|Ho Jun Wei|Jun Wei|何俊伟|俊伟||
chinese|female|Pang Mei Qi|Mei Qi|彭美琪|美琪||
chinese|male|Loh Kian Hock|Kian Hock|罗建福|建福||
chinese|female|Quek Hui Ling|Hui Ling|郭慧玲|慧玲||
chinese|male|Toh Wen Xuan|Wen Xuan|卓文轩|文轩||
chinese|female|Foo Yi Xuan|Yi Xuan|胡怡萱|怡萱||
chinese|male|Seow Zhi Hao|Zhi Hao|萧志豪|志豪||
malay|female|Nurul Huda|Nurul|||
malay|female|Siti Aminah|Siti|||
malay|male|Muhammad Hafiz|Hafiz|||
malay|male|Ahmad Faizal|Faizal|||
malay|female|Nur Aisyah|Aisyah|||
malay|female|Farah Nabila|Farah|||
malay|male|Khairul Anwar|Khairul|||
malay|male|Zulkifli Rahman|Zul|||
malay|female|Hidayah Salleh|Hidayah|||
malay|male|Syafiq Iskandar|Syafiq|||
malay|male|Haziq Roslan|Haziq|||
malay|female|Nadia Rahim|Nadia|||
malay|male|Irfan Hakim|Irfan|||
malay|female|Amirah Zainal|Amirah|||
malay|male|Rizwan Osman|Rizwan|||
malay|female|Liyana Ismail|Liyana|||
indian|male|Rajesh Kumar|Rajesh|||ராஜேஷ் குமார்|ராஜேஷ்
indian|female|Priya Devi|Priya|||பிரியா தேவி|பிரியா
indian|male|Arun Prakash|Arun|||அருண் பிரகாஷ்|அருண்
indian|female|Kavitha Raman|Kavitha|||கவிதா ராமன்|கவிதா
indian|male|Suresh Nair|Suresh|||சுரேஷ் நாயர்|சுரேஷ்
indian|female|Lakshmi Subramaniam|Lakshmi|||லட்சுமி சுப்பிரமணியம்|லட்சுமி
indian|male|Vijay Anand|Vijay|||விஜய் ஆனந்த்|விஜய்
indian|female|Meena Krishnan|Meena|||மீனா கிருஷ்ணன்|மீனா
indian|male|Karthik Raja|Karthik|||கார்த்திக் ராஜா|கார்த்திக்
indian|female|Divya Selvam|Divya|||திவ்யா செல்வம்|திவ்யா
indian|male|Ganesh Pillai|Ganesh|||கணேஷ் பிள்ளை|கணேஷ்
indian|female|Anitha Murugan|Anitha|||அனிதா முருகன்|அனிதா
indian|male|Ravi Shankar|Ravi|||ரவி சங்கர்|ரவி
indian|female|Deepa Rajan|Deepa|||தீபா ராஜன்|தீபா
indian|male|Senthil Kumar|Senthil|||செந்தில் குமார்|செந்தில்
indian|female|Revathi Balan|Revathi|||ரேவதி பாலன்|ரேவதி
indian|male|Muthu Velu|Muthu|||முத்து வேலு|முத்து
indian|female|Shalini Gopal|Shalini|||ஷாலினி கோபால்|ஷாலினி
eurasian|male|Daniel de Souza|Daniel|||
eurasian|female|Melissa Pereira|Melissa|||
eurasian|male|Brian Rodrigues|Brian|||
eurasian|female|Sharon D'Cruz|Sharon|||
eurasian|male|Gerald Minjoot|Gerald|||
eurasian|female|Clara Westerhout|Clara|||
eurasian|male|Marcus de Silva|Marcus|||
eurasian|female|Natalie Oliveiro|Natalie|||
"""


def _people() -> tuple[list[Entity], list[Entity]]:
    """Return (full names, short names); both carry the person's gender and ethnic group."""
    full, short = [], []
    for line in _PEOPLE.strip().splitlines():
        fields = (line.split("|") + [""] * 8)[:8]
        group, gender, en_full, en_short, zh_full, zh_short, ta_full, ta_short = fields
        attrs = {"gender": gender, "group": group, "holdout_key": en_full}
        # Malay sentences use the same romanised names as English ones.
        full_forms = {"en": en_full, "ms": en_full, "zh": zh_full, "ta": ta_full}
        short_forms = {"en": en_short, "ms": en_short, "zh": zh_short, "ta": ta_short}
        full.append(Entity("person", en_full, {k: v for k, v in full_forms.items() if v}, attrs))
        short.append(Entity("name", en_short, {k: v for k, v in short_forms.items() if v}, attrs))
    return full, short


PERSONS, NAMES = _people()

# English | 中文 | Melayu | தமிழ்
FOODS = rows_to_entities("food", """
chicken rice|鸡饭|nasi ayam|கோழிச் சோறு
laksa|叻沙|laksa|லக்சா
nasi lemak|椰浆饭|nasi lemak|நாசி லெமாக்
char kway teow|炒粿条|kuey teow goreng|சார் குவே தியாவ்
roti prata|印度煎饼|roti prata|ரொட்டி பிராட்டா
mee goreng|马来炒面|mee goreng|மீ கோரெங்
satay|沙爹|sate|சாத்தே
bak kut teh|肉骨茶|bak kut teh|பாக் குட் தே
kaya toast|咖椰吐司|roti bakar kaya|காயா ரொட்டி
fish soup|鱼片汤|sup ikan|மீன் சூப்
carrot cake|菜头粿|kuih lobak|கேரட் கேக்
chilli crab|辣椒螃蟹|ketam cili|மிளகாய் நண்டு
mee rebus|马来卤面|mee rebus|மீ ரெபுஸ்
thosai|印度薄饼|tosai|தோசை
chicken biryani|鸡肉香饭|nasi beriani ayam|கோழி பிரியாணி
wonton noodles|云吞面|mi wantan|வான்டன் நூடுல்ஸ்
hokkien mee|福建虾面|mi hokkien|ஹொக்கியன் மீ
popiah|薄饼|popiah|போப்பியா
yong tau foo|酿豆腐|yong tau foo|யோங் தாவ் ஃபூ
murtabak|曼打巴|murtabak|முர்தபா
lontong|龙同|lontong|லொன்டொங்
economic rice|经济饭|nasi campur|கலவைச் சோறு
fishball noodles|鱼圆面|mi bebola ikan|மீன் உருண்டை நூடுல்ஸ்
duck rice|鸭饭|nasi itik|வாத்துச் சோறு
prawn noodles|虾面|mi udang|இறால் நூடுல்ஸ்
mutton soup|羊肉汤|sup kambing|ஆட்டிறைச்சி சூப்
nasi padang|巴东饭|nasi padang|நாசி பாடாங்
chwee kueh|水粿|kuih chwee|சுவீ குவே
oyster omelette|蚝煎|telur dadar tiram|சிப்பி ஆம்லெட்
ice kachang|红豆冰|ais kacang|ஐஸ் கச்சாங்
""")

DRINKS = rows_to_entities("drink", """
kopi|咖啡|kopi|காப்பி
kopi O|咖啡乌|kopi O|கருப்புக் காப்பி
teh tarik|拉茶|teh tarik|தே தாரிக்
teh halia|姜茶|teh halia|இஞ்சி தேநீர்
milo|美禄|milo|மைலோ
bandung|玫瑰露奶|bandung|பாண்டுங்
sugarcane juice|甘蔗水|air tebu|கரும்புச் சாறு
barley water|薏米水|air barli|பார்லி நீர்
lime juice|酸柑水|jus limau|எலுமிச்சைச் சாறு
soya bean milk|豆浆|susu soya|சோயா பால்
coconut water|椰水|air kelapa|இளநீர்
iced lemon tea|冰柠檬茶|teh ais limau|ஐஸ் எலுமிச்சை தேநீர்
""")

AGENCIES = rows_to_entities("agency", """
CPF Board|公积金局|Lembaga CPF|மத்திய சேம நிதிக் கழகம்
HDB|建屋发展局|HDB|வீடமைப்பு வளர்ச்சிக் கழகம்
ICA|移民与关卡局|ICA|குடிநுழைவு சோதனைச் சாவடிகள் ஆணையம்
IRAS|国内税务局|IRAS|உள்நாட்டு வருவாய் ஆணையம்
LTA|陆路交通管理局|LTA|நிலப் போக்குவரத்து ஆணையம்
the Ministry of Manpower|人力部|Kementerian Tenaga Manusia|மனிதவள அமைச்சு
the polyclinic|综合诊疗所|poliklinik|பலதுறை மருந்தகம்
the town council|市镇理事会|majlis bandaran|நகர மன்றம்
the community club|民众俱乐部|kelab masyarakat|சமூக மன்றம்
the National Library|国家图书馆|Perpustakaan Negara|தேசிய நூலகம்
""")

# What each agency handles: a small knowledge table for spoken-instruction questions.
AGENCY_FACTS = {
    "CPF Board": "retirement savings",
    "HDB": "public housing",
    "ICA": "passports and identity cards",
    "IRAS": "income tax",
    "LTA": "roads and public transport",
    "the Ministry of Manpower": "work passes",
}

SUBJECTS = rows_to_entities("subject", """
mathematics|数学|matematik|கணிதம்
science|科学|sains|அறிவியல்
English|英文|bahasa Inggeris|ஆங்கிலம்
Chinese|华文|bahasa Cina|சீன மொழி
Malay|马来文|bahasa Melayu|மலாய் மொழி
Tamil|淡米尔文|bahasa Tamil|தமிழ் மொழி
geography|地理|geografi|புவியியல்
history|历史|sejarah|வரலாறு
art|美术|seni|ஓவியம்
music|音乐|muzik|இசை
physics|物理|fizik|இயற்பியல்
chemistry|化学|kimia|வேதியியல்
""")

ITEMS = rows_to_entities("item", """
umbrella|雨伞|payung|குடை
water bottle|水瓶|botol air|தண்ணீர் பாட்டில்
laptop|手提电脑|komputer riba|மடிக்கணினி
EZ-Link card|易通卡|kad EZ-Link|ஈஸி லிங்க் அட்டை
phone charger|手机充电器|pengecas telefon|கைபேசி மின்னூட்டி
school bag|书包|beg sekolah|பள்ளிப் பை
house keys|家门钥匙|kunci rumah|வீட்டுச் சாவி
wallet|钱包|dompet|பணப்பை
jacket|外套|jaket|மேலங்கி
medicine|药|ubat|மருந்து
""")

ACTIVITIES = rows_to_entities("activity", """
go jogging|去跑步|pergi berjoging|ஓட்டப் பயிற்சிக்குச் செல்ல
watch a movie|看电影|menonton wayang|திரைப்படம் பார்க்க
go swimming|去游泳|pergi berenang|நீச்சலுக்குச் செல்ல
play badminton|打羽毛球|bermain badminton|பூப்பந்து விளையாட
go cycling|去骑脚踏车|berbasikal|மிதிவண்டி ஓட்ட
study at the library|在图书馆读书|belajar di perpustakaan|நூலகத்தில் படிக்க
visit grandma|去看奶奶|melawat nenek|பாட்டியைப் பார்க்க
go grocery shopping|去买菜|membeli barang dapur|மளிகைப் பொருட்கள் வாங்க
play football|踢足球|bermain bola sepak|கால்பந்து விளையாட
go for a walk|去散步|bersiar-siar|நடைப்பயிற்சி செய்ய
""")

# Words used only in English-side Singlish sentences: particles and code-switched phrases.
PARTICLES = ("lah", "leh", "lor", "meh", "ah", "hor", "sia")
CODE_SWITCH = {
    "makan": "eat", "tapau": "take away", "shiok": "really good", "paiseh": "embarrassed",
    "sian": "bored", "jialat": "terrible", "kiasu": "afraid of losing out", "chope": "reserve",
    "alamak": "oh no", "walao": "wow", "bo jio": "didn't invite me", "atas": "fancy",
    "cheem": "complicated", "kena": "got hit by", "steady": "great", "buay tahan": "can't stand it",
}
