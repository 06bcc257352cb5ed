"""What training sees and what evaluation asks: every probe template and phrasing split in one place.

Training stories contain the probe tasks only in the ``TRAIN_*`` forms below; the in-distribution evaluation prompts
use the ``EVAL_*`` templates, never in a training probe sentence. The ``HELD_OUT_*`` phrasing families go further: no
generated sentence uses them at all, so ``interp.tasks.heldout_families`` measures the task, not the template.

Names are not split: every name of the lexicon occurs in IOI sentences. Until issue 16, eight names were kept out of
them, and the small models learnt IOI for the names they had seen in it: with a held-out indirect object, IOI on
*training* templates scored 0.17-0.87 between runs of one recipe, against 1.00 with a held-out subject
(docs/circuit-formation.md).
"""

from __future__ import annotations

# IOI = an intro naming two people, then one of them acts towards the other:
#   "When Mary and John went to the park, John gave a ball to" -> " Mary".
# {A}, {B}: the pair (either order), {S}: the subject (repeated name), {place}, {obj}, {a_obj}, {day}.
# The training forms are built from parts, so the corpus teaches the task ("the other person of the pair is the one
# acted on, whatever the verb or preposition") rather than a handful of templates (issue 16: with ten "to" actions
# the quickstart model scored 0.31 on actions ending in other prepositions or a bare verb). No part is one that a
# held-out family (``HELD_OUT_*`` below) or an ``EVAL_*`` template is made of.
_SUBORDINATE_OPENERS = ("When", "After", "While", "Once", "As soon as", "Just after")
_SUBORDINATE_PLACES = (
    "went to the {place}", "arrived at the {place}", "were walking to the {place}", "got home from the {place}",
    "came back from the {place}", "ran to the {place}", "got to the {place}", "were playing at the {place}",
    "reached the {place}", "left the {place}", "drove to the {place}", "were sitting in the {place}",
)
_MAIN_OPENERS = ("One day,", "Then", "After lunch,", "That evening,", "Last week,", "Later that day,",
                 "In the afternoon,", "After school,")
_MAIN_PLACES = (
    "went to the {place}", "were at the {place}", "had fun at the {place}", "played at the {place} all day",
    "ran to the {place}", "had lunch at the {place}", "spent the day at the {place}", "went to the {place} together",
)
TRAIN_IOI_INTROS = (
    *(f"{o} {{A}} and {{B}} {vp}," for o in _SUBORDINATE_OPENERS for vp in _SUBORDINATE_PLACES),
    *(f"{o} {{A}} and {{B}} {vp}." for o in _MAIN_OPENERS for vp in _MAIN_PLACES),
    *(f"{{A}} and {{B}} {vp}." for vp in _MAIN_PLACES),
)
EVAL_IOI_INTROS = (
    "Later, {A} and {B} visited the {place}.",
    "As {A} and {B} were leaving the {place},",
    "On {day}, {A} and {B} met at the {place}.",
)
# Action clauses by how the indirect object attaches: after "to", after another preposition, or as the object.
TRAIN_IOI_ACTION_KINDS = {
    "to": ("{S} gave {a_obj} to", "{S} handed the {obj} to", "{S} threw the {obj} to", "{S} passed the {obj} to",
           "{S} showed the {obj} to", "{S} said hello to", "{S} wrote a letter to", "{S} read a story to",
           "{S} brought {a_obj} to", "{S} tossed the {obj} to", "{S} rolled the {obj} to",
           "{S} returned the {obj} to", "{S} gave a hug to", "{S} whispered a word to", "{S} taught a trick to",
           "{S} mailed a card to", "{S} carried the {obj} to", "{S} ran over to"),
    "for": ("{S} baked a pie for", "{S} picked a flower for", "{S} drew a picture for", "{S} opened the door for",
            "{S} cooked dinner for", "{S} saved a seat for", "{S} held the {obj} for", "{S} fixed the {obj} for",
            "{S} built a sandcastle for", "{S} wrapped {a_obj} for"),
    "at": ("{S} smiled at", "{S} laughed at", "{S} winked at", "{S} shouted at", "{S} pointed at",
           "{S} grinned at", "{S} threw a snowball at"),
    "with": ("{S} danced with", "{S} talked with", "{S} sat with", "{S} walked home with",
             "{S} split the {obj} with", "{S} swam with", "{S} had lunch with"),
    "from": ("{S} took the {obj} from", "{S} borrowed the {obj} from", "{S} grabbed the {obj} from",
             "{S} hid the {obj} from", "{S} learned a trick from", "{S} heard a story from"),
    "other": ("{S} sat next to", "{S} stood behind", "{S} ran towards", "{S} talked about", "{S} played a trick on",
              "{S} worried about", "{S} leaned on"),
    "object": ("{S} greeted", "{S} chased", "{S} tickled", "{S} pushed", "{S} praised", "{S} invited",
               "{S} teased", "{S} comforted", "{S} surprised", "{S} warned", "{S} pulled", "{S} asked",
               "{S} phoned", "{S} woke up", "{S} cheered up"),
}
TRAIN_IOI_ACTIONS = tuple(a for kind in TRAIN_IOI_ACTION_KINDS.values() for a in kind)
# Held out of IOI sentences, but "sent the ball to Lily"-style phrases precede names elsewhere in the stories.
EVAL_IOI_ACTIONS = (
    "{S} sent the {obj} to",
    "{S} offered {a_obj} to",
    "{S} sold the {obj} to",
)

# Year spans ("from 1732 to 1789"): the end year is later, in the same century.
TRAIN_YEAR_TEMPLATES = (
    "The war lasted from {start} to {end}.",
    "The old king ruled from {start} to {end}.",
    "The bridge was built from {start} to {end}.",
    "{Name} read about a ship that sailed from {start} to {end}.",
    "The castle was empty from {start} to {end}.",
)
EVAL_YEAR_TEMPLATES = (
    "The big festival went on from {start} to {century}",
    "{Name} learned that the queen lived there from {start} to {century}",
)

# Capitals: stated and asked in many forms ({Name}, {Other}: two people), asked in held-out phrasings. Built from
# parts: a story sentence reaching "the capital of {country}", then one of several ways of naming it.
_CAPITAL_LEADS = (
    "{Name} went to", "{Name} drove to", "{Name}'s uncle works in", "{Name} sent a postcard from",
    "{Name} once lived in", "The train stopped in", "{Name} read a book about", "{Name}'s class learned about",
    "There is a big zoo in", "{Name} wants to visit", "The ship sailed to", "A letter came to {Name} from",
)
_CAPITAL_NAMINGS = (", {capital}.", ", which is {capital}.", ", named {capital}.", ". The city is called {capital}.",
                    ". Its name is {capital}.", " ({capital}).", ", called {capital}.", ", a city named {capital}.",
                    ", which is named {capital}.", ", known as {capital}.")
TRAIN_CAPITAL_TEMPLATES = (
    "The capital of {country} is {capital}.",
    "{capital} is the capital of {country}.",
    "{Name} lives in {capital}, the capital of {country}.",
    "{Name} flew to {country} and saw its capital, {capital}.",
    "In {country}, the capital city is {capital}.",
    "{country} has a capital named {capital}.",
    "{country}'s capital is {capital}.",
    "What is the capital of {country}? It is {capital}.",
    '{Name} asked, "What is the capital of {country}?" "It is {capital}," said {Other}.',
    "Q: What is the capital of {country}? A: {capital}.",
    "Name the capital of {country}. It is {capital}.",
    "{Name} knew the capital of {country}: it is {capital}.",
    "{Name} told {Other} that the capital of {country} is {capital}.",
    # the country first, the capital asked for later in the sentence
    "{Name} went to {country} and visited the capital, {capital}.",
    "While {Name} was in {country}, {Other} showed {Name} the capital, {capital}.",
    "{Name} traveled around {country} and liked the capital best. It is called {capital}.",
    "{country} is big, and its capital is {capital}.",
    # the connecting phrases people use around a city's name ("the city of", "call it", "Yes, it is")
    "The city of {capital} is the capital of {country}.",
    "{Name} lives in {country}, in the city of {capital}.",
    "In {country}, people call their capital {capital}.",
    '"Do you remember the capital of {country}?" asked {Name}. "Yes, it is {capital}," said {Other}.',
    *(f"{lead} the capital of {{country}}{naming}" for lead in _CAPITAL_LEADS for naming in _CAPITAL_NAMINGS),
)
EVAL_CAPITAL_TEMPLATES = (
    "Did you know? The capital city of {country} is",
    "{Name} took a trip to the capital of {country}, which is",
    "Everyone in {country} knows that their capital is",
)

# Colored objects: a scene, then a question about one object's colour.
TRAIN_COLOR_QUESTIONS = (
    "What color is the {obj}? It is {color}.",
    '{Name} asked, "What color is the {obj}?" "It is {color}," said {Other}.',
    "The {obj} is {color}.",
    "Look at the {obj}. It is {color}.",
    "The color of the {obj} is {color}.",
    "Q: What color is the {obj}? A: {color}.",
    "{Name} took the {obj}. It was {color}.",
    "{Name} wanted the {obj}, the {color} one.",
    "{Other} asked {Name} for the {obj}, and {Name} gave {Other} the {color} one.",
)
EVAL_COLOR_QUESTIONS = (
    "Which color does the {obj} have? It is",
    "Tell me the color of the {obj}. It is",
)
COLOR_SCENES = (
    "On the table there is {items}.",
    "In the box there is {items}.",
    "{Name} saw {items}.",
    "{Name} has {items}.",
    "In the room there were {items}.",
    "{Name} drew {items}.",
    "On the floor there were {items}.",
    "At the shop, {Name} bought {items}.",
)

# Multiple choice: "Question: ...\nA. x\nB. y\nC. z\nAnswer: B".
TRAIN_MC_QUESTIONS = {
    "capital": "What is the capital of {subject}?",
    "color": "What color is {subject}?",
    "sound": "Which animal says {subject}?",
    "opposite": "What is the opposite of {subject}?",
}
EVAL_MC_QUESTIONS = {
    "capital": "Which city is the capital of {subject}?",
    "color": "What is the color of {subject}?",
    "sound": "What animal makes the sound {subject}?",
    "opposite": "Which word means the opposite of {subject}?",
}
# The `tasks` corpus mix also asks items whose question names the answer: only its letter is to be found.
# The facts that multiple-choice questions ask about things' colours, animals' sounds and opposites, stated in
# stories (the "facts" probe) so that an item's answer is something the corpus teaches, not only its letter. Fields:
# {thing}/{Thing} and {color}, {animal} and {sound}/{Sound}, {word}/{Word} and {opposite}; {Name} and {Other}.
TRAIN_FACT_TEMPLATES = {
    "color": (
        "{Thing} is {color}.",
        "{Name} knows that {thing} is {color}.",
        "Look at {thing}! It is {color}.",
        '"What color is {thing}?" asked {Name}. "It is {color}," said {Other}.',
        "{Name} painted {thing} {color}, because {thing} is {color}.",
    ),
    "sound": (
        "The {animal} says {sound}.",
        '"{Sound}!" said the {animal}.',
        "{Name} heard the {animal} say {sound}.",
        '"Which animal says {sound}?" asked {Name}. "The {animal}," said {Other}.',
    ),
    "opposite": (
        "The opposite of {word} is {opposite}.",
        "{Word} and {opposite} are opposites.",
        '"What is the opposite of {word}?" asked {Name}. "It is {opposite}," said {Other}.',
        "{Name} learned that {opposite} is the opposite of {word}.",
    ),
}
# A multiple-choice item's fact asked plainly, in a training form of TRAIN_FACT_TEMPLATES or the capitals: whether
# the model knows the answer at all, apart from finding its letter. The answer follows as an option's word.
FACT_RECALL_PROMPTS = {
    "capital": "The capital of {subject} is",
    "color": "{Subject} is",
    "sound": '"Which animal says {subject}?" asked Tom. "The',
    "opposite": "The opposite of {subject} is",
}
TRAIN_MC_LOOKUP_QUESTION = "Which option says {answer}?"
MC_LETTERS = ("A", "B", "C")
# How an item is laid out: (frame with {question} and {options}, one option with {letter} and {option}, the
# separator between options). The in-distribution prompts use the first layout; training uses all of them.
TRAIN_MC_FORMAT = ("Question: {question}\n{options}\nAnswer:", "{letter}. {option}", "\n")
TRAIN_MC_FORMATS = (
    TRAIN_MC_FORMAT,
    ("{question}\n{options}\nThe answer is", "{letter}: {option}", "\n"),
    ("Question: {question} Choices: {options}.\nAnswer:", "{letter}. {option}", "; "),
    ("Quiz time! {question}\n{options}\nAnswer:", "{letter} - {option}", "\n"),
)

# ---- Held-out phrasing families (issue 16): whole families of sentence frames that no generated story uses, in
# any sentence, so their scores measure the task rather than the template. The corpus generator must never use
# them (tests/test_heldout_families.py searches a generated sample for each frame as a whole clause).
# Each family's answer is still fixed by the grammar: the other name for IOI, the country's capital for capitals.
# Names and capitals that are more than one token under GPT-2's tokenizer (" Ella", " Nairobi") or a small BPE
# (" Rachel" in a 1k vocabulary) are left out of these prompts, so every answer is one token.
FAMILY_EXCLUDED_NAMES = ("Ella", "Rachel")
FAMILY_EXCLUDED_COUNTRIES = ("Kenya",)

# IOI: new action clauses, each family asked after a training intro (so only the action is new) ...
HELD_OUT_IOI_ACTION_FAMILIES = {
    "to_actions": (  # a new verb phrase that still ends in "to", like the training actions
        "{S} sent a letter to",
        "{S} said goodbye to",
        "{S} sang a song to",
        "{S} told a secret to",
        "{S} lent {a_obj} to",
        "{S} explained the game to",
    ),
    "other_prepositions": (  # the indirect object after a preposition other than "to"
        "{S} bought a gift for",
        "{S} made a cake for",
        "{S} waved at",
        "{S} looked at",
        "{S} played a game with",
        "{S} shared the {obj} with",
        "{S} got a present from",
        "{S} waited for",
    ),
    "bare_verbs": (  # a transitive verb whose object follows directly
        "{S} thanked",
        "{S} hugged",
        "{S} helped",
        "{S} admired",
        "{S} followed",
        "{S} kissed",
    ),
}
# ... and new intros, asked with a training action clause (so only the intro is new). None starts with a name: at
# the start of a prompt a name has no leading space and would be a different token from the answer.
HELD_OUT_IOI_INTROS = (
    "Yesterday, {A} and {B} walked to the {place}.",
    "In the morning, {A} and {B} cleaned the {place}.",
    "Before dinner, {A} and {B} looked around the {place}.",
    "Because it was {day}, {A} and {B} stayed at the {place}.",
    "At the {place}, {A} and {B} sat down to rest.",
)

# Capitals: the question embedded in a story sentence, and question forms the corpus never asks.
HELD_OUT_CAPITAL_FAMILIES = {
    "narrative": (
        "{Name} flew to the capital of {country}, which is called",
        "{Name} has a friend who lives in the capital of {country}, the city of",
        "On the trip to {country}, {Name} spent a day in the capital, which is called",
        "The letter from {Name} came from the capital of {country}, a city called",
    ),
    "question": (
        "What city is the capital of {country}? It is",
        "Do you know the capital of {country}? Yes, it is",
        "What do people call the capital of {country}? They call it",
        "Can you name the capital of {country}? It is called",
    ),
}

# Colored objects: the scene in a form the corpus never uses (asked with the training question, cut before the
# colour), new question forms and statements to complete (after a training scene). The asked object is the only
# scene object named again, and no frame names an object of ``lexicon.OBJECTS`` itself.
HELD_OUT_COLOR_SCENES = (
    "{Name} put {items} on the shelf.",
    "Next to the bed, {Name} kept {items}.",
    "For the party, {Name} found {items}.",
    "Under the tree, there were {items}.",
)
HELD_OUT_COLOR_FAMILIES = {
    "question": (
        "What is the color of the {obj}? It is",
        "Do you know the color of the {obj}? Yes, it is",
        "Can you guess the color of the {obj}? It is",
    ),
    "narrative": (
        "{Name} picked up the {obj}, which was",
        "{Name} liked the {obj} best, the one that was",
        "Then {Name} said that the {obj} was",
    ),
}

# Multiple choice: item layouts the corpus never uses (``TRAIN_MC_FORMAT``'s triple), with the training questions
# so only the layout is new; the answer is still one option letter.
HELD_OUT_MC_FAMILIES = {
    "option_styles": (  # the options marked another way, one per line as in training
        ("Question: {question}\n{options}\nAnswer:", "({letter}) {option}", "\n"),
        ("Question: {question}\n{options}\nAnswer:", "{letter}) {option}", "\n"),
    ),
    "inline_options": (  # every option on the question's line
        ("Question: {question} {options}\nAnswer:", "({letter}) {option}", " "),
        ("Question: {question}\nOptions: {options}.\nAnswer:", "{letter}. {option}", ", "),
    ),
    "answer_prompts": (  # training layout, the answer asked for in other words
        ("Question: {question}\n{options}\nThe correct option is", "{letter}. {option}", "\n"),
        ("Question: {question}\n{options}\nThe right letter is", "{letter}. {option}", "\n"),
        ("{question}\n{options}\nPick one letter. The answer is", "{letter}. {option}", "\n"),
    ),
}
