"""The words of the built-in corpus: characters, things, places and a fixed world of facts.

Small on purpose (about 1,000 distinct words) so a tiny model sees every word many times.
"""

from __future__ import annotations

FEMALE_NAMES = (
    "Mary", "Anna", "Lily", "Sara", "Emma", "Lucy", "Kate", "Amy", "Rose", "Jane", "Mia", "Ella", "Grace",
    "Alice", "Sophie", "Chloe", "Zoe", "Ruby", "Lisa", "Julia", "Nina", "Eva", "Clara", "Hannah", "Laura",
    "Molly", "Daisy", "Holly", "Sally", "Rachel",
)
MALE_NAMES = (
    "John", "Tom", "Max", "Ben", "Sam", "Jack", "Tim", "Leo", "Paul", "Mark", "Luke", "Adam", "David",
    "Peter", "James", "Noah", "Oscar", "Henry", "Mike", "Dan", "Alex", "Bob", "Eric", "Fred", "Kevin",
    "Oliver", "Ryan", "Simon", "Victor", "Steve",
)
NAMES = FEMALE_NAMES + MALE_NAMES
GENDER = {**{n: "f" for n in FEMALE_NAMES}, **{n: "m" for n in MALE_NAMES}}
PRONOUNS = {  # subject, object, possessive, reflexive, noun
    "f": ("she", "her", "her", "herself", "girl"),
    "m": ("he", "him", "his", "himself", "boy"),
}

# Things a character can hold, give and throw (a/an is chosen from the first letter of the word after it).
OBJECTS = (
    "ball", "book", "cup", "pen", "hat", "kite", "doll", "box", "key", "toy", "apple", "orange", "egg",
    "umbrella", "bag", "drink", "cookie", "cake", "flower", "letter", "card", "shell", "stone", "spoon",
    "bottle", "drum", "bell", "brush", "coat", "shoe", "sock", "ring", "map", "clock", "lamp", "pencil",
    "basket", "blanket", "candle", "feather", "ice cream", "banana", "sandwich", "pillow", "ticket",
    "present", "puzzle", "rope", "sticker", "teddy bear",
)
PLACES = (
    "store", "park", "school", "garden", "beach", "zoo", "farm", "library", "market", "river", "forest",
    "lake", "castle", "museum", "station", "bakery", "playground", "hill", "pond", "village", "kitchen",
    "house", "shop", "field", "cafe", "circus", "island", "cave", "harbor", "office",
)
ANIMALS = (
    ("cat", "meow"), ("dog", "woof"), ("cow", "moo"), ("duck", "quack"), ("sheep", "baa"), ("pig", "oink"),
    ("owl", "hoot"), ("horse", "neigh"), ("lion", "roar"), ("frog", "croak"), ("bee", "buzz"),
    ("mouse", "squeak"), ("snake", "hiss"), ("bird", "tweet"), ("goat", "bleat"),
)
MORE_ANIMALS = ("elephant", "rabbit", "fox", "bear", "turtle", "fish", "tiger", "monkey", "ant", "eagle")
COLORS = ("red", "blue", "green", "yellow", "purple", "orange", "pink", "brown", "black", "white", "gray")
ADJECTIVES = (
    "big", "small", "happy", "sad", "little", "old", "new", "kind", "brave", "funny", "shiny", "soft",
    "quiet", "loud", "tall", "short", "warm", "cold", "fast", "slow", "clever", "gentle", "sleepy", "silly",
    "pretty", "strong", "tiny", "huge", "bright", "dark", "wet", "dry", "clean", "dirty", "lovely", "odd",
    "empty", "heavy", "light", "round", "special", "magic", "secret", "wild", "busy", "lucky", "curious",
)
FEELINGS = ("happy", "sad", "scared", "excited", "tired", "angry", "proud", "surprised", "calm", "hungry")
ACTIVITIES = (
    "play", "read", "sing", "dance", "draw", "paint", "swim", "run", "jump", "climb", "cook", "bake",
    "build a tower", "fly a kite", "plant seeds", "ride a bike", "play games", "look at the stars",
    "feed the ducks", "pick flowers", "tell stories", "make cards",
)
# Things one does to a person, in the base form ("wanted to thank Mom"): the corpus knows these verbs and that a
# person follows them (the held-out IOI families use some of them as "NAME thanked", a clause no corpus sentence has).
PERSON_VERBS = (
    "thank", "hug", "help", "follow", "kiss", "admire", "greet", "chase", "tickle", "push", "praise", "invite",
    "tease", "comfort", "surprise", "warn", "pull", "call", "visit", "meet", "watch", "find", "miss", "wake up",
    "hold", "teach", "trust", "wave at", "look at", "smile at", "wait for", "play with", "talk to", "sing to",
    "read to", "write to", "listen to", "dance with", "cook for", "make a card for", "buy a gift for",
    "say goodbye to", "say hello to", "get a present from", "learn from", "share a snack with", "lend a toy to",
)
# The same in the past tense (by position in PERSON_VERBS); stories use them after a comma ("Tom stood up, thanked
# Mom and went home"), so the model knows each is a verb that a person follows.
PERSON_VERBS_PAST = (
    "thanked", "hugged", "helped", "followed", "kissed", "admired", "greeted", "chased", "tickled", "pushed",
    "praised", "invited", "teased", "comforted", "surprised", "warned", "pulled", "called", "visited", "met",
    "watched", "found", "missed", "woke up", "held", "taught", "trusted", "waved at", "looked at", "smiled at",
    "waited for", "played with", "talked to", "sang to", "read to", "wrote to", "listened to", "danced with",
    "cooked for", "made a card for", "bought a gift for", "said goodbye to", "said hello to", "got a present from",
    "learned from", "shared a snack with", "lent a toy to",
)
WEATHER = ("sunny", "rainy", "windy", "cloudy", "snowy", "warm", "cold", "foggy")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FAMILY = (("Mom", "f"), ("Dad", "m"), ("Grandma", "f"), ("Grandpa", "m"), ("the teacher", "f"),
          ("the baker", "m"))

# Facts with colours: things whose colour is known (for multiple-choice questions).
THING_COLORS = (
    ("the sky", "blue"), ("grass", "green"), ("snow", "white"), ("a banana", "yellow"), ("coal", "black"),
    ("a strawberry", "red"), ("the sun", "yellow"), ("a leaf", "green"), ("milk", "white"),
    ("a tomato", "red"), ("an elephant", "gray"), ("chocolate", "brown"), ("the sea", "blue"),
    ("a cherry", "red"), ("a crow", "black"),
)
OPPOSITES = (
    ("hot", "cold"), ("big", "small"), ("fast", "slow"), ("up", "down"), ("happy", "sad"), ("wet", "dry"),
    ("day", "night"), ("old", "new"), ("tall", "short"), ("light", "dark"), ("open", "closed"),
    ("loud", "quiet"), ("full", "empty"), ("soft", "hard"), ("early", "late"),
)

# A fixed world of countries and their capitals (single-word capitals, learnt from training sentences).
COUNTRIES = (
    ("France", "Paris"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Germany", "Berlin"), ("Japan", "Tokyo"),
    ("Egypt", "Cairo"), ("Russia", "Moscow"), ("England", "London"), ("Greece", "Athens"),
    ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Austria", "Vienna"), ("Ireland", "Dublin"),
    ("Portugal", "Lisbon"), ("Poland", "Warsaw"), ("Kenya", "Nairobi"), ("Peru", "Lima"), ("Chile", "Santiago"),
    ("Cuba", "Havana"), ("Canada", "Ottawa"), ("China", "Beijing"), ("India", "Delhi"), ("Thailand", "Bangkok"),
    ("Denmark", "Copenhagen"), ("Finland", "Helsinki"), ("Hungary", "Budapest"), ("Belgium", "Brussels"),
    ("Turkey", "Ankara"), ("Iran", "Tehran"), ("Mexico", "Mexico"),
)
# Drop the ambiguous pair (country and capital share a name) so every question has one clear answer.
COUNTRIES = tuple((c, k) for c, k in COUNTRIES if c != k)
CAPITAL_OF = dict(COUNTRIES)


def article(word: str) -> str:
    """'a' or 'an' for the word that follows (by its first letter: good enough for this vocabulary)."""
    return "an" if word[0].lower() in "aeiou" else "a"


def with_article(word: str) -> str:
    return f"{article(word)} {word}"
