"""Sentences labelled grammatical or not: CoLA when it can be had, a generated corpus offline.

The Corpus of Linguistic Acceptability (CoLA; Warstadt, Singh and Bowman, 2019) holds
English sentences from linguistics publications, each labelled acceptable (1) or not (0).
Its public release ``cola_public_1.1.zip`` (fetched by ``python -m dlcourse.download cola``
into ``<data root>/cola_public``) has tab-separated files ``raw/in_domain_train.tsv`` and
``raw/in_domain_dev.tsv`` with four columns: source code, label, the original author's
mark ("*" for unacceptable) and the sentence.

Offline, :func:`make_offline_cola` writes a generated corpus in the same layout
(``<data root>/cola_offline``). Its sentences come from a small English grammar: a noun
phrase (determiner, optional adjective, noun), an optional prepositional phrase, a verb,
an object when the verb takes one, and an optional adverbial. Verbs come in three frames:
some never take an object ("sleep"), some must ("like"), and some may go either way
("help": "the dogs help" and "the dogs help the teacher" are both English). The share
``acceptable`` of the sentences (CoLA's share by default) is kept as generated; each of the
others is broken by exactly one rule of English:

- ``agreement``: the verb takes the other number than its subject; a prepositional phrase
  between them often holds a noun of the other number,
- ``determiner``: a determiner that cannot go with its noun's number ("these" before a
  singular noun, "a" before a plural one),
- ``order``: two words of the subject trade places, or the verb moves after its object,
- ``frame``: a verb that must take an object goes without, or one that never takes an
  object gets one. Verbs whose object is optional are never broken this way.

The rule is written in the first column (``gen2-<rule>``; ``gen2`` for acceptable sentences)
and :func:`load_cola` returns it per sentence. The generated sentences are not CoLA:
figures on the two are not comparable.

:func:`load_cola` tokenizes (lower case, words and punctuation), builds the vocabulary
from the training split and returns padded index tensors; see its docstring for shapes.
"""
from __future__ import annotations

import csv
import random
import re
from pathlib import Path

from dlcourse.data.paths import data_root

PAD, UNK, CLS = "<PAD>", "<UNK>", "<CLS>"
SPLITS = {"train": "in_domain_train.tsv", "val": "in_domain_dev.tsv"}
MAX_LENGTH = 43  # CoLA's longest training sentence, in tokens, plus the CLS token

# ------------------------------------------------------------------------------------
# The grammar of the generated corpus
# ------------------------------------------------------------------------------------

# Every noun and adjective starts with a consonant, so "a" is always the right article.
NOUNS = [("dog", "dogs"), ("cat", "cats"), ("child", "children"), ("teacher", "teachers"),
         ("bird", "birds"), ("student", "students"), ("farmer", "farmers"), ("woman", "women"),
         ("man", "men"), ("doctor", "doctors"), ("neighbour", "neighbours"), ("singer", "singers"),
         ("horse", "horses"), ("painter", "painters"), ("baby", "babies"), ("mouse", "mice")]
DETERMINERS = {"sg": ["a", "this", "that", "every", "the"], "pl": ["these", "those", "many", "some", "the"]}
# Determiners that cannot go with a noun of the given number ("some dog" is English, so
# "some" is not among them).
WRONG_DETERMINERS = {"sg": ["these", "those", "many"], "pl": ["a", "this", "that", "every"]}
ADJECTIVES = ["brave", "young", "happy", "tired", "small", "clever", "quiet", "hungry"]
PREPOSITIONS = ["near", "behind", "with", "beside"]
# (third person singular, plural) forms by frame.
INTRANSITIVE = [("sleeps", "sleep"), ("laughs", "laugh"), ("smiles", "smile"), ("arrives", "arrive"),
                ("yawns", "yawn"), ("sneezes", "sneeze")]
TRANSITIVE = [("likes", "like"), ("finds", "find"), ("needs", "need"), ("brings", "bring"),
              ("admires", "admire"), ("resembles", "resemble"), ("describes", "describe")]
OPTIONAL_OBJECT = [("helps", "help"), ("watches", "watch"), ("visits", "visit"), ("follows", "follow"),
                   ("leaves", "leave")]
VERBS = {"intransitive": INTRANSITIVE, "transitive": TRANSITIVE, "optional": OPTIONAL_OBJECT}
ADVERBS = ["today", "again", "quietly", "often", "every day", "in the morning"]
RULES = ("agreement", "determiner", "order", "frame")
SOURCE_CODE = "gen2"  # the first column of the generated files (gen2-<rule> for broken sentences)


def _noun_phrase(rng: random.Random, number: str, adjective_p: float = 0.3) -> list[str]:
    sg, pl = rng.choice(NOUNS)
    words = [rng.choice(DETERMINERS[number])]
    if rng.random() < adjective_p:
        words.append(rng.choice(ADJECTIVES))
    return words + [sg if number == "sg" else pl]


def grammatical_sentence(rng: random.Random) -> dict:
    """One grammatical sentence with its parts: {"subject", "pp", "verb", "frame", "object", "adverb", ...}."""
    number = rng.choice(["sg", "pl"])
    subject = _noun_phrase(rng, number)
    pp = []
    if rng.random() < 0.35:  # the distractor noun takes the other number half the time or more
        pp_number = ("pl" if number == "sg" else "sg") if rng.random() < 0.7 else number
        pp = [rng.choice(PREPOSITIONS)] + _noun_phrase(rng, pp_number, adjective_p=0.0)
    u = rng.random()
    frame = "intransitive" if u < 0.35 else "transitive" if u < 0.75 else "optional"
    sg_verb, pl_verb = rng.choice(VERBS[frame])
    has_object = frame == "transitive" or (frame == "optional" and rng.random() < 0.5)
    obj = _noun_phrase(rng, rng.choice(["sg", "pl"]), adjective_p=0.2) if has_object else []
    adverb = rng.choice(ADVERBS).split() if rng.random() < 0.3 else []
    return {"subject": subject, "number": number, "pp": pp, "verb": sg_verb if number == "sg" else pl_verb,
            "verb_forms": (sg_verb, pl_verb), "frame": frame, "object": obj, "adverb": adverb}


def _words(parts: dict) -> list[str]:
    return parts["subject"] + parts["pp"] + [parts["verb"]] + parts["object"] + parts["adverb"]


def break_sentence(rng: random.Random, parts: dict) -> tuple[list[str], str]:
    """The words of ``parts`` with exactly one rule broken, and the rule's name."""
    while True:
        rule = rng.choice(RULES)
        p = {k: (list(v) if isinstance(v, list) else v) for k, v in parts.items()}
        if rule == "agreement":
            sg_verb, pl_verb = p["verb_forms"]
            p["verb"] = pl_verb if p["number"] == "sg" else sg_verb
            return _words(p), rule
        if rule == "determiner":
            phrase = rng.choice([k for k in ("subject", "object") if p[k]])
            noun = p[phrase][-1]
            number = "sg" if any(noun == sg for sg, _ in NOUNS) else "pl"
            p[phrase][0] = rng.choice(WRONG_DETERMINERS[number])
            return _words(p), rule
        if rule == "order":
            if p["object"] and rng.random() < 0.5:  # verb after its object: "the dog the cat sees"
                subject = p["subject"] + p["pp"]
                return subject + p["object"] + [p["verb"]] + p["adverb"], rule
            phrase = p["subject"]
            phrase[0], phrase[1] = phrase[1], phrase[0]  # "dog the sleeps", "happy the dog sleeps"
            return _words(p), rule
        if rule == "frame":
            if p["frame"] == "optional":
                continue  # with or without an object, these verbs are English
            if p["frame"] == "transitive":
                if p["adverb"]:
                    continue  # "the dog likes every day": the adverbial would read as the object
                p["object"] = []  # "the dog likes"
            else:
                p["object"] = _noun_phrase(rng, rng.choice(["sg", "pl"]), adjective_p=0.0)  # "the dog sleeps the cat"
            return _words(p), rule


def generate_corpus(n: int, seed: int, acceptable: float = 0.7) -> list[tuple[int, str, str]]:
    """``n`` distinct (label, sentence, rule) triples; rule is "" for acceptable sentences."""
    rng = random.Random(seed)
    seen, out = set(), []
    while len(out) < n:
        parts = grammatical_sentence(rng)
        if rng.random() < acceptable:
            words, label, rule = _words(parts), 1, ""
        else:
            (words, rule), label = break_sentence(rng, parts), 0
        sentence = " ".join(words)
        sentence = sentence[0].upper() + sentence[1:] + "."
        if sentence in seen:
            continue
        seen.add(sentence)
        out.append((label, sentence, rule))
    return out


def source_code(rule: str) -> str:
    """The first column of a generated row: ``gen2`` (acceptable) or ``gen2-<rule>``."""
    return f"{SOURCE_CODE}-{rule}" if rule else SOURCE_CODE


def rule_of(source: str) -> str | None:
    """The rule a generated row breaks ("" for none) from its source code; None for other sources."""
    if source == SOURCE_CODE:
        return ""
    prefix, _, rule = source.partition("-")
    return rule if prefix == SOURCE_CODE and rule in RULES else None


def make_offline_cola(folder: Path | None = None, n_train: int = 6000, n_val: int = 800, seed: int = 0) -> Path:
    """Write the generated corpus in CoLA's layout (raw/*.tsv) into ``folder``; return it.

    Training and validation sentences are disjoint. Deterministic for a given seed.
    """
    folder = Path(folder) if folder is not None else data_root() / "cola_offline"
    corpus = generate_corpus(n_train + n_val, seed)
    raw = folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, rows in ((SPLITS["train"], corpus[:n_train]), (SPLITS["val"], corpus[n_train:])):
        tmp = raw / (name + ".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
            for label, sentence, rule in rows:
                writer.writerow([source_code(rule), label, "" if label else "*", sentence])
        tmp.replace(raw / name)
    (folder / "README.txt").write_text(
        "Generated by dlcourse.data.cola.make_offline_cola: an offline stand-in for CoLA in its\n"
        "file layout. Sentences follow a small English grammar; label 0 sentences break one rule\n"
        "(agreement, determiner, word order or verb frame), named in the first column\n"
        f"({SOURCE_CODE}-<rule>). Not CoLA: scores are not comparable.\n")
    return folder


# ------------------------------------------------------------------------------------
# Reading and checking the files
# ------------------------------------------------------------------------------------

def read_rows(path: Path) -> list[tuple[str, int, str]]:
    """(source code, label, sentence) of every line of one CoLA raw file."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 4:
                raise ValueError(f"{path.name}: a line has {len(cols)} columns, expected 4")
            rows.append((cols[0], int(cols[1]), cols[3]))
    return rows


def read_tsv(path: Path) -> list[tuple[int, str]]:
    """(label, sentence) pairs of one CoLA raw file."""
    return [(label, sentence) for _, label, sentence in read_rows(path)]


def find_cola_problems(folder: Path) -> list[str]:
    """What is wrong with a CoLA folder (empty list: nothing)."""
    problems = []
    for split, name in SPLITS.items():
        path = Path(folder) / "raw" / name
        if not path.is_file():
            problems.append(f"raw/{name} is missing")
            continue
        try:
            rows = read_tsv(path)
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(str(exc))
            continue
        if not rows:
            problems.append(f"raw/{name} is empty")
        elif {label for label, _ in rows} - {0, 1}:
            problems.append(f"raw/{name} has labels other than 0 and 1")
    return problems


def find_cola(base_dir=None) -> tuple[Path, str]:
    """(folder, source): the real CoLA if present and valid, else the offline corpus (made if missing)."""
    if base_dir is not None:
        return Path(base_dir), "given folder"
    real = data_root() / "cola_public"
    if real.is_dir() and not find_cola_problems(real):
        return real, "CoLA"
    return ensure_offline_cola(), "generated offline corpus"


def ensure_offline_cola(folder: Path | None = None) -> Path:
    """The generated corpus's folder, written first if it is missing, incomplete or older.

    A folder written by an earlier version of the generator (another source code in its
    first column) is written again, so every machine uses the same corpus.
    """
    folder = Path(folder) if folder is not None else data_root() / "cola_offline"
    if find_cola_problems(folder) or not _written_by_this_generator(folder):
        make_offline_cola(folder)
    return folder


def _written_by_this_generator(folder: Path) -> bool:
    """Does the first line of every split carry this generator's source code?"""
    for name in SPLITS.values():
        with open(Path(folder) / "raw" / name, encoding="utf-8") as f:
            if rule_of(f.readline().split("\t")[0]) is None:
                return False
    return True


# ------------------------------------------------------------------------------------
# Tokens and tensors
# ------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")


def tokenize(sentence: str) -> list[str]:
    """Lower-case words (with their apostrophe part) and single punctuation marks."""
    return _TOKEN.findall(sentence.lower())


def build_vocab(sentences: list[str]) -> dict:
    """word_to_ix: <PAD> 0, <UNK> 1, <CLS> 2, then the words of ``sentences`` by frequency."""
    counts: dict = {}
    for s in sentences:
        for w in tokenize(s):
            counts[w] = counts.get(w, 0) + 1
    words = sorted(counts, key=lambda w: (-counts[w], w))
    return {w: i for i, w in enumerate([PAD, UNK, CLS] + words)}


def encode(sentences: list[str], word_to_ix: dict, max_length: int = MAX_LENGTH):
    """int64 tensor (N, max_length): <CLS>, the tokens (unknown ones <UNK>), <PAD> to the end.

    Sentences longer than max_length - 1 tokens are cut.
    """
    import torch

    out = torch.full((len(sentences), max_length), word_to_ix[PAD], dtype=torch.long)
    for n, s in enumerate(sentences):
        ids = [word_to_ix[CLS]] + [word_to_ix.get(w, word_to_ix[UNK]) for w in tokenize(s)]
        ids = ids[:max_length]
        out[n, :len(ids)] = torch.tensor(ids)
    return out


def load_cola(base_dir=None, max_length: int = MAX_LENGTH, max_train: int | None = None) -> dict:
    """The CoLA splits as tensors.

    Returns a dict with
    - "train_inputs", "val_inputs": int64 (N, T) token indices (see :func:`encode`); T is
      one more than the longest sentence's token count over both splits, at most
      ``max_length`` (43 on CoLA, less on the generated corpus, whose sentences are short)
    - "train_labels", "val_labels": float32 (N,), 1.0 acceptable, 0.0 not
    - "train_sentences", "val_sentences": the raw sentences (lists of N strings)
    - "train_rules", "val_rules": lists of N strings, for the generated corpus the rule each
      sentence breaks ("agreement", "determiner", "order" or "frame"; "" for an acceptable
      sentence); None for every sentence of CoLA, which does not record it
    - "word_to_ix": the vocabulary of the training split
    - "source": "CoLA", "generated offline corpus" or "given folder"
    ``max_train`` keeps the first sentences of the training split only.
    """
    import torch

    folder, source = find_cola(base_dir)
    problems = find_cola_problems(folder)
    if problems:
        raise FileNotFoundError(f"{folder} is not a CoLA folder: {'; '.join(problems)}")
    train = read_rows(folder / "raw" / SPLITS["train"])[:max_train]
    val = read_rows(folder / "raw" / SPLITS["val"])
    word_to_ix = build_vocab([s for _, _, s in train])
    data = {"word_to_ix": word_to_ix, "source": source}
    length = min(max_length, 1 + max(len(tokenize(s)) for _, _, s in train + val))
    for split, rows in (("train", train), ("val", val)):
        sentences = [s for _, _, s in rows]
        data[f"{split}_sentences"] = sentences
        data[f"{split}_inputs"] = encode(sentences, word_to_ix, length)
        data[f"{split}_labels"] = torch.tensor([float(label) for _, label, _ in rows], dtype=torch.float32)
        data[f"{split}_rules"] = [rule_of(code) for code, _, _ in rows]
    print(f"CoLA data: {source} ({len(train)} training and {len(val)} validation sentences, "
          f"{len(word_to_ix)} words)")
    return data
