"""English-only Singapore sentences: Singlish particles, code-switched words, school and work chatter.

Same slot syntax as `templates.py` (so the same filler and the same hold-out rule apply); the extra
slot kind `{particle}` draws one of lah, leh, lor, meh, ah, hor, sia. These sentences have no
parallel translation, so they feed speech recognition, question answering, dialogues and
paralinguistics, never speech translation.
"""

from __future__ import annotations

from audiollm.data.templates import Template


def _s(key: str, en: str, **questions) -> Template:
    normalised = {slot: (q, None) if isinstance(q, str) else q for slot, q in questions.items()}
    return Template(f"sg.{key}", {"en": en}, normalised)


SINGLISH = [
    _s("makan", "Eh {name}, you want to go {hawker} makan {food} or not? I very hungry already {particle}.",
       food="What food is suggested?", hawker="Where do they want to eat?"),
    _s("queue", "Wah, the queue at {hawker} so long, confirm need to wait {minutes} minutes one.",
       minutes="How long is the expected wait?"),
    _s("tapau", "Can help me tapau one {food} from {hawker}? No chilli {particle}.",
       food="What should be bought?", hawker="Where should the food be bought from?"),
    _s("letter", "Don't play play, the letter from {agency} say must reply by {date} {particle}.",
       date="What is the reply deadline?", agency="Who sent the letter?"),
    _s("train", "Alamak, the train stuck at {station} again, later I sure late for work {particle}.",
       station="Where is the train stuck?"),
    _s("cheap", "This {food} only {price}? So cheap {particle}?", price="How much is the {food}?"),
    _s("paiseh", "Paiseh {particle}, I cannot make it on {day}, can we change to {day2} instead?",
       day2="Which day is proposed instead?", day="Which day can the speaker not make it?"),
    _s("shiok", "Shiok sia, the {food} at {hawker} really power, must go again.",
       food="Which dish was praised?"),
    _s("directions", "You go {station} then take the {line} to {station2}, very near one {particle}.",
       line="Which line should you take?", station2="Which station is the destination?"),
    _s("sian", "My boss say must finish the report by {time}, sian half already {particle}.",
       time="When is the report due?"),
    _s("ezlink", "Alamak, I forgot to bring my {item}, can lend me yours or not?", item="What was forgotten?"),
    _s("walao", "Walao eh, {price} for one {drink}? Like that also can {particle}?",
       price="How much does one {drink} cost?", drink="Which drink is too expensive?"),
    _s("chope", "Go chope the table first {particle}, I queue for the {food}.", food="What is the speaker queueing for?"),
    _s("bojio", "You all went {landmark} on {day} and bo jio me {particle}?",
       landmark="Where did they go?", day="On which day did they go?"),
    _s("kiasu", "My neighbour very kiasu one, queue at {town} community club since {time} for the free masks.",
       time="Since what time did the neighbour queue?", town="Where was the queue?"),
    _s("aunty", "Aunty, one {drink} and one {food}, takeaway {particle}.",
       drink="What drink was ordered?", food="What food was ordered?"),
    _s("uncle", "Uncle, how much for {count} packets of {food}? {price} can or not?",
       count="How many packets are wanted?", price="What price does the customer offer?"),
    _s("rain", "Later sure rain one, better bring your {item} when you go {town} {particle}.",
       item="What should be brought?"),
    _s("mrt", "The {line} got delay again, I think I take bus {bus} better {particle}.",
       bus="Which bus will the speaker take?", line="Which line is delayed?"),
    _s("grab", "The Grab driver say reach {station} in {minutes} minutes, you wait for me at the taxi stand.",
       minutes="How soon will the driver arrive?", station="Where will the driver arrive?"),
    _s("tuition", "My son got {subject} tuition every {day}, so cannot join the outing {particle}.",
       subject="Which subject is the tuition for?", day="On which day is the tuition?"),
    _s("psle", "Next week {name} got {subject} paper, so this weekend must study at home {particle}.",
       subject="Which paper does {name} have?"),
    _s("recess", "During recess we always buy {food} from the canteen, very cheap one, only {price}.",
       food="What do they buy during recess?", price="How much does it cost?"),
    _s("cca", "Today CCA until {time}, so I go back home late {particle}.", time="Until what time is CCA?"),
    _s("ns", "{name} book out on {day}, then we go {hawker} eat {food} together.",
       day="When does {name} book out?", food="What will they eat?"),
    _s("ot", "Tonight must OT until {time} again, the project deadline is {date} {particle}.",
       date="What is the project deadline?", time="Until what time is the overtime?"),
    _s("mc", "I down with flu, took {days} days MC from the clinic at {town}.",
       days="How many days of medical leave did the speaker get?"),
    _s("hdb", "Our flat at Block {block} {town} got lift upgrading, so must climb stairs {particle}.",
       block="Which block has lift upgrading?", town="Which town is the block in?"),
    _s("bto", "We finally got the BTO in {town}, keys collection on {date}, so happy {particle}.",
       town="Where is the new flat?", date="When is key collection?"),
    _s("cpf", "Eh you check your CPF statement already or not? Got email from {agency} {particle}.",
       agency="Who sent the email?"),
    _s("wedding", "{person} wedding dinner at {landmark} on {date}, you going or not?",
       date="When is the wedding dinner?", landmark="Where is the wedding dinner?"),
    _s("phone", "Call me at {phone} when you reach {station} {particle}.",
       phone="What number should you call?", station="Where should you call from?"),
    _s("atas", "That restaurant near {landmark} very atas, one plate of {food} cost {price}.",
       price="How much is one plate of {food}?"),
    _s("cheem", "The {subject} homework so cheem, I spend {minutes} minutes also cannot finish {particle}.",
       subject="Which homework is difficult?", minutes="How long did the speaker spend?"),
    _s("jialat", "Jialat {particle}, I kena fine {amount} because I park at the yellow box in {town}.",
       amount="How much was the fine?", town="Where did the speaker get fined?"),
    _s("steady", "Steady lah {name}, you finish the run at {landmark} in {minutes} minutes!",
       minutes="How long did {name} take to finish the run?"),
    _s("buaytahan", "Buay tahan already, the aircon at the office broke down since {day}.",
       day="Since which day has the aircon been broken?"),
    _s("kopitiam", "Meet you at the kopitiam below Block {block} at {time}, I buy you {drink}.",
       block="Which block is the kopitiam under?", drink="What drink will be bought?"),
    _s("hungry", "Got any {food} left or not? I just walked back from {landmark}, damn tired {particle}.",
       food="What food is the speaker asking for?"),
    _s("market", "My mother go {hawker} every {day} morning to buy {food} for breakfast.",
       day="On which morning does the mother go?", hawker="Where does the mother go?"),
    _s("lost", "Anyone saw my {item}? I think I left it at {station} station {particle}.",
       item="What is missing?", station="Where was it left?"),
    _s("durian", "Durian season already, {count} kilo only {price} at {town} market {particle}.",
       price="How much is {count} kilo of durian?"),
]
