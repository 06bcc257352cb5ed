"""What training sees and what evaluation asks: every probe template, phrasing and name split in one place.

Training stories contain the probe tasks only in the ``TRAIN_*`` forms below; evaluation prompts use the
``EVAL_*`` forms and the held-out names, which the stories still use elsewhere (so the model knows the names and
the words, but has never seen them in these probe sentences). The ``HELD_OUT_*`` phrasing families go further:
no generated sentence uses them at all, so ``interp.tasks.heldout_families`` measures the task, not the template.
"""

from __future__ import annotations

from interp.data.corpus.lexicon import FEMALE_NAMES, MALE_NAMES, NAMES

# Names that never appear in a training IOI sentence (they do appear in other story sentences).
HELD_OUT_NAMES = FEMALE_NAMES[-4:] + MALE_NAMES[-4:]
IOI_TRAIN_NAMES = tuple(n for n in NAMES if n not in HELD_OUT_NAMES)

# IOI = an intro naming two people, then one of them acts towards the other:
#   "When Mary and John went to the park, John gave a ball to" -> " Mary".
# {A}, {B}: the pair (either order), {S}: the subject (repeated name), {place}, {obj}, {a_obj}, {day}.
TRAIN_IOI_INTROS = (
    "When {A} and {B} went to the {place},",
    "After {A} and {B} arrived at the {place},",
    "While {A} and {B} were walking to the {place},",
    "{A} and {B} went to the {place}.",
    "One day, {A} and {B} were at the {place}.",
    "When {A} and {B} got home from the {place},",
    "Then {A} and {B} had fun at the {place}.",
    "{A} and {B} played at the {place} all day.",
    "After lunch, {A} and {B} ran to the {place}.",
)
EVAL_IOI_INTROS = (
    "Later, {A} and {B} visited the {place}.",
    "As {A} and {B} were leaving the {place},",
    "On {day}, {A} and {B} met at the {place}.",
)
TRAIN_IOI_ACTIONS = (
    "{S} gave {a_obj} to",
    "{S} handed the {obj} to",
    "{S} threw the {obj} to",
    "{S} passed the {obj} to",
    "{S} showed the {obj} to",
    "{S} said hello to",
    "{S} wrote a letter to",
    "{S} read a story to",
    "{S} brought {a_obj} to",
    "{S} smiled at",
)
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

# Capitals: learnt from training sentences, asked in held-out phrasings.
TRAIN_CAPITAL_TEMPLATES = (
    "The capital of {country} is {capital}.",
    "{capital} is the capital of {country}.",
    "{Name} lives in {capital}, the capital of {country}.",
    "{Name} flew to {country} and saw its capital, {capital}.",
    "In {country}, the capital city is {capital}.",
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
)
EVAL_COLOR_QUESTIONS = (
    "Which color does the {obj} have? It is",
    "Tell me the color of the {obj}. It is",
)
COLOR_SCENES = (
    "On the table there is {items}.",
    "In the box there is {items}.",
    "{Name} saw {items}.",
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
MC_LETTERS = ("A", "B", "C")
# How an item is laid out: (frame with {question} and {options}, one option with {letter} and {option}, the
# separator between options). Training and the in-distribution prompts use only this layout.
TRAIN_MC_FORMAT = ("Question: {question}\n{options}\nAnswer:", "{letter}. {option}", "\n")

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
        "{S} called",
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
