"""Singapore places for the text generator: MRT lines and stations, HDB towns, hawker centres, landmarks.

Malay uses the English names (as station signs do). The station table also records which MRT lines
serve each station; the spoken-instruction task asks about it, so those facts must stay correct.
"""

from __future__ import annotations

from audiollm.data.lexicon import Entity, rows_to_entities

# code | English | 中文 | Melayu | தமிழ்
_LINES = """
NS|North South Line|南北线|Laluan Utara Selatan|வடக்கு தெற்கு பாதை
EW|East West Line|东西线|Laluan Timur Barat|கிழக்கு மேற்கு பாதை
NE|North East Line|东北线|Laluan Timur Laut|வடகிழக்கு பாதை
CC|Circle Line|环线|Laluan Bulatan|வட்டப் பாதை
DT|Downtown Line|滨海市区线|Laluan Downtown|டவுன்டவுன் பாதை
TE|Thomson-East Coast Line|汤申东海岸线|Laluan Thomson-East Coast|தாம்சன் ஈஸ்ட் கோஸ்ட் பாதை
"""


def _lines() -> tuple[list[Entity], dict[str, Entity]]:
    entities, by_code = [], {}
    for row in _LINES.strip().splitlines():
        code, en, zh, ms, ta = row.split("|")
        entity = Entity("line", en, {"en": en, "zh": zh, "ms": ms, "ta": ta}, {"code": code})
        entities.append(entity)
        by_code[code] = entity
    return entities, by_code


LINES, LINE_BY_CODE = _lines()

# English | 中文 | தமிழ் | line codes
_STATIONS = """
Ang Mo Kio|宏茂桥|அங் மோ கியோ|NS
Bishan|碧山|பீஷான்|NS CC
Yishun|义顺|யீஷூன்|NS
Woodlands|兀兰|உட்லண்ட்ஸ்|NS TE
Jurong East|裕廊东|ஜூரோங் ஈஸ்ட்|NS EW
Toa Payoh|大巴窑|தோ பாயோ|NS
Novena|诺维娜|நொவீனா|NS
Newton|纽顿|நியூட்டன்|NS DT
Orchard|乌节|ஆர்ச்சர்ட்|NS TE
Somerset|索美塞|சாமர்செட்|NS
Dhoby Ghaut|多美歌|டோபி காட்|NS NE CC
City Hall|政府大厦|சிட்டி ஹால்|NS EW
Raffles Place|莱佛士坊|ராஃபிள்ஸ் பிளேஸ்|NS EW
Marina Bay|滨海湾|மரினா பே|NS CC TE
Tampines|淡滨尼|தெம்பனிஸ்|EW DT
Bedok|勿洛|பிடோக்|EW
Pasir Ris|巴西立|பாசிர் ரிஸ்|EW
Paya Lebar|巴耶利峇|பாய லேபார்|EW CC
Bugis|武吉士|பூகிஸ்|EW DT
Clementi|金文泰|கிளிமெண்டி|EW
Boon Lay|文礼|பூன் லே|EW
Buona Vista|波那维斯达|பூவன விஸ்தா|EW CC
Outram Park|欧南园|ஊட்ரம் பார்க்|EW NE TE
Tiong Bahru|中峇鲁|தியோங் பாரு|EW
Queenstown|女皇镇|குவீன்ஸ்டவுன்|EW
Kallang|加冷|காலாங்|EW
Aljunied|阿裕尼|அல்ஜுனிட்|EW
Eunos|友诺士|யூனோஸ்|EW
Kembangan|景万岸|கெம்பாங்கான்|EW
Tanah Merah|丹那美拉|தானா மேரா|EW
Lavender|劳明达|லெவண்டர்|EW
Chinatown|牛车水|சைனாடவுன்|NE DT
Little India|小印度|லிட்டில் இந்தியா|NE DT
Serangoon|实龙岗|சிராங்கூன்|NE CC
Sengkang|盛港|செங்காங்|NE
Punggol|榜鹅|பொங்கோல்|NE
Hougang|后港|ஹவ்காங்|NE
HarbourFront|港湾|ஹார்பர்ஃபிரண்ட்|NE CC
Choa Chu Kang|蔡厝港|சுவா சூ காங்|NS
Bukit Batok|武吉巴督|புக்கிட் பாத்தோக்|NS
Khatib|卡迪|காதிப்|NS
Marsiling|马西岭|மார்சிலிங்|NS
Yew Tee|油池|இயூ டீ|NS
Braddell|布莱德|பிரேடல்|NS
Botanic Gardens|植物园|பொட்டானிக் கார்டன்ஸ்|CC DT
Caldecott|加利谷|கால்டிகாட்|CC TE
Stevens|史蒂芬|ஸ்டீவன்ஸ்|DT TE
Bukit Panjang|武吉班让|புக்கிட் பாஞ்சாங்|DT
"""


def _stations() -> list[Entity]:
    out = []
    for row in _STATIONS.strip().splitlines():
        en, zh, ta, codes = row.split("|")
        lines = [LINE_BY_CODE[code].key for code in codes.split()]
        out.append(Entity("station", en, {"en": en, "zh": zh, "ms": en, "ta": ta}, {"lines": lines}))
    return out


STATIONS = _stations()

# English | 中文 | Melayu | தமிழ்
TOWNS = rows_to_entities("town", """
Ang Mo Kio|宏茂桥|Ang Mo Kio|அங் மோ கியோ
Bedok|勿洛|Bedok|பிடோக்
Bishan|碧山|Bishan|பீஷான்
Bukit Batok|武吉巴督|Bukit Batok|புக்கிட் பாத்தோக்
Bukit Merah|红山|Bukit Merah|புக்கிட் மேரா
Bukit Panjang|武吉班让|Bukit Panjang|புக்கிட் பாஞ்சாங்
Choa Chu Kang|蔡厝港|Choa Chu Kang|சுவா சூ காங்
Clementi|金文泰|Clementi|கிளிமெண்டி
Geylang|芽笼|Geylang|கேலாங்
Hougang|后港|Hougang|ஹவ்காங்
Jurong West|裕廊西|Jurong West|ஜூரோங் வெஸ்ட்
Pasir Ris|巴西立|Pasir Ris|பாசிர் ரிஸ்
Punggol|榜鹅|Punggol|பொங்கோல்
Queenstown|女皇镇|Queenstown|குவீன்ஸ்டவுன்
Sembawang|三巴旺|Sembawang|செம்பவாங்
Sengkang|盛港|Sengkang|செங்காங்
Serangoon|实龙岗|Serangoon|சிராங்கூன்
Tampines|淡滨尼|Tampines|தெம்பனிஸ்
Toa Payoh|大巴窑|Toa Payoh|தோ பாயோ
Woodlands|兀兰|Woodlands|உட்லண்ட்ஸ்
Yishun|义顺|Yishun|யீஷூன்
Marine Parade|马林百列|Marine Parade|மரின் பரேட்
Kallang|加冷|Kallang|காலாங்
Tengah|登加|Tengah|தெங்கா
""")

HAWKER_CENTRES = rows_to_entities("hawker", """
Maxwell Food Centre|麦士威熟食中心|Pusat Makanan Maxwell|மேக்ஸ்வெல் உணவங்காடி நிலையம்
Lau Pa Sat|老巴刹|Lau Pa Sat|லாவ் பா சாட்
Newton Food Centre|纽顿熟食中心|Pusat Makanan Newton|நியூட்டன் உணவங்காடி நிலையம்
Old Airport Road Food Centre|旧机场路熟食中心|Pusat Makanan Old Airport Road|ஓல்ட் ஏர்போர்ட் ரோடு உணவங்காடி நிலையம்
Tiong Bahru Market|中峇鲁市场|Pasar Tiong Bahru|தியோங் பாரு சந்தை
Chomp Chomp Food Centre|忠忠熟食中心|Pusat Makanan Chomp Chomp|சோம்ப் சோம்ப் உணவங்காடி நிலையம்
Tekka Centre|竹脚中心|Pusat Tekka|தேக்கா நிலையம்
Adam Road Food Centre|亚当路熟食中心|Pusat Makanan Adam Road|ஆடம் ரோடு உணவங்காடி நிலையம்
Golden Mile Food Centre|黄金熟食中心|Pusat Makanan Golden Mile|கோல்டன் மைல் உணவங்காடி நிலையம்
Amoy Street Food Centre|厦门街熟食中心|Pusat Makanan Amoy Street|அமோய் ஸ்ட்ரீட் உணவங்காடி நிலையம்
Geylang Serai Market|芽笼士乃巴刹|Pasar Geylang Serai|கேலாங் சிராய் சந்தை
Bedok Interchange Food Centre|勿洛转换站熟食中心|Pusat Makanan Bedok Interchange|பிடோக் இன்டர்சேஞ்ச் உணவங்காடி நிலையம்
Whampoa Food Centre|黄埔熟食中心|Pusat Makanan Whampoa|வாம்போவா உணவங்காடி நிலையம்
Ghim Moh Market|锦茂巴刹|Pasar Ghim Moh|கிம் மோ சந்தை
Chinatown Complex|牛车水大厦|Kompleks Chinatown|சைனாடவுன் வளாகம்
Hong Lim Food Centre|芳林熟食中心|Pusat Makanan Hong Lim|ஹொங் லிம் உணவங்காடி நிலையம்
""")

LANDMARKS = rows_to_entities("landmark", """
Gardens by the Bay|滨海湾花园|Gardens by the Bay|கார்டன்ஸ் பை தி பே
Jewel Changi Airport|星耀樟宜|Jewel Changi Airport|ஜுவல் சாங்கி விமான நிலையம்
Sentosa|圣淘沙|Sentosa|செந்தோசா
East Coast Park|东海岸公园|Taman East Coast|ஈஸ்ட் கோஸ்ட் பூங்கா
the Botanic Gardens|植物园|Taman Botani|தாவரவியல் பூங்கா
the Singapore Zoo|新加坡动物园|Zoo Singapura|சிங்கப்பூர் விலங்கியல் தோட்டம்
Bukit Timah Nature Reserve|武吉知马自然保护区|Hutan Simpan Bukit Timah|புக்கிட் தீமா இயற்கைக் காப்பகம்
the Merlion|鱼尾狮|Merlion|மெர்லயன்
Marina Bay Sands|滨海湾金沙|Marina Bay Sands|மரினா பே சேண்ட்ஸ்
the Esplanade|滨海艺术中心|Esplanade|எஸ்பிளனேட்
Kampong Glam|甘榜格南|Kampong Glam|கம்போங் கிளாம்
Pulau Ubin|乌敏岛|Pulau Ubin|பூலாவ் உபின்
the Science Centre|科学馆|Pusat Sains|அறிவியல் நிலையம்
Chinese Garden|裕华园|Taman Cina|சீனத் தோட்டம்
""")
