"""The CoLA loader, its download and the generated acceptability corpus.

The generated corpus is checked by an acceptability checker written here, independently
of the generator: its own small English lexicon (determiners with the numbers they go
with, nouns with irregular plurals, verbs with their third-person forms and their frames,
including verbs whose object is optional, and "a" against "an") and its own grammar of
the sentence pattern. Every acceptable sentence must pass it; every unacceptable one must
fail it, and be repaired by exactly one kind of single edit, the one of the rule the
generator says it breaks (change a verb's number, change a determiner, move one word,
delete or insert an object). The download is tested against a local server with a zip in
CoLA's layout.
"""
from __future__ import annotations

import io
import zipfile

import pytest
import torch

from dlcourse.data import cola
from dlcourse.download import DownloadError, fetch
from tests.package.test_download import Route, isolated_data_root, server  # noqa: F401 (fixtures)

# ------------------------------------------------------------------------------------
# An English lexicon and grammar for the checker (not read from the generator)
# ------------------------------------------------------------------------------------

DETERMINER_NUMBERS = {"a": {"sg"}, "an": {"sg"}, "this": {"sg"}, "that": {"sg"}, "every": {"sg"},
                      "each": {"sg"}, "these": {"pl"}, "those": {"pl"}, "many": {"pl"}, "several": {"pl"},
                      "few": {"pl"}, "some": {"sg", "pl"}, "the": {"sg", "pl"}}
SINGULAR_TO_PLURAL = {"dog": "dogs", "cat": "cats", "child": "children", "teacher": "teachers", "bird": "birds",
                      "student": "students", "farmer": "farmers", "woman": "women", "man": "men",
                      "doctor": "doctors", "neighbour": "neighbours", "singer": "singers", "horse": "horses",
                      "painter": "painters", "baby": "babies", "mouse": "mice", "goose": "geese", "owl": "owls",
                      "day": "days", "morning": "mornings", "evening": "evenings"}
NOUN_NUMBERS = {**{sg: {"sg"} for sg in SINGULAR_TO_PLURAL}, **{pl: {"pl"} for pl in SINGULAR_TO_PLURAL.values()},
                "sheep": {"sg", "pl"}}
TIME_NOUNS = {"day", "days", "morning", "mornings", "evening", "evenings"}
ADJECTIVE_WORDS = {"brave", "young", "happy", "tired", "small", "clever", "quiet", "hungry", "old", "angry", "tall"}
PREPOSITION_WORDS = {"near", "behind", "with", "beside", "in", "on", "under"}
ADVERB_WORDS = {"today", "again", "quietly", "often", "yesterday", "now", "slowly"}
# Verb frames as English has them: "none" never takes a noun-phrase object ("*the dog
# sleeps the cat", "*waits the cat"), "object" must take one ("*the dog likes"),
# "optional" may go either way ("the dogs help", "the dogs help the teacher").
VERB_FRAMES = {"sleep": "none", "laugh": "none", "smile": "none", "arrive": "none", "yawn": "none",
               "sneeze": "none", "wait": "none", "like": "object", "find": "object", "need": "object",
               "bring": "object", "admire": "object", "resemble": "object", "describe": "object",
               "help": "optional", "watch": "optional", "visit": "optional", "follow": "optional",
               "leave": "optional", "see": "optional", "run": "optional", "sing": "optional", "eat": "optional"}
THIRD_PERSON = {"watch": "watches", "sneeze": "sneezes"}  # -es forms; the rest add -s
VERB_FORMS = {}  # form -> (base, number of the subject it agrees with)
for _base in VERB_FRAMES:
    VERB_FORMS[_base] = (_base, "pl")
    VERB_FORMS[THIRD_PERSON.get(_base, _base + "s")] = (_base, "sg")


def _words_of(sentence: str) -> list[str] | None:
    """Lower-case words of a sentence written with a capital and a full stop, else None."""
    if not sentence[:1].isupper() or not sentence.endswith(".") or sentence.count(".") != 1:
        return None
    return sentence[:-1].lower().split()


def _noun_phrases(words, k):
    """(numbers, end) of every well-formed noun phrase det adj* noun starting at k."""
    if k >= len(words) or words[k] not in DETERMINER_NUMBERS:
        return []
    det, j = words[k], k + 1
    if det in ("a", "an") and j < len(words) and (det == "a") == (words[j][0] in "aeiou"):
        return []  # "a" before a consonant, "an" before a vowel
    while j < len(words) and words[j] in ADJECTIVE_WORDS:
        j += 1
    if j < len(words) and words[j] in NOUN_NUMBERS:
        numbers = DETERMINER_NUMBERS[det] & NOUN_NUMBERS[words[j]]
        if numbers:
            return [(numbers, j + 1)]
    return []


def _ends_with_adverbial(words, k) -> bool:
    """words[k:] is empty or one adverbial: an adverb, a time noun phrase or a prepositional phrase."""
    rest = words[k:]
    if not rest or (len(rest) == 1 and rest[0] in ADVERB_WORDS):
        return True
    if any(end == len(words) and words[end - 1] in TIME_NOUNS for _, end in _noun_phrases(words, k)):
        return True
    return rest[0] in PREPOSITION_WORDS and any(end == len(words) for _, end in _noun_phrases(words, k + 1))


def acceptable(sentence: str) -> bool:
    """Subject [prepositional phrase] verb [object as the verb's frame allows] [adverbial]."""
    words = _words_of(sentence)
    if not words:
        return False
    for numbers, k in _noun_phrases(words, 0):
        verb_positions = [k] + [end for _, end in (_noun_phrases(words, k + 1) if k < len(words)
                                                   and words[k] in PREPOSITION_WORDS else [])]
        for v in verb_positions:
            if v >= len(words) or words[v] not in VERB_FORMS:
                continue
            base, number = VERB_FORMS[words[v]]
            if number not in numbers:
                continue
            frame = VERB_FRAMES[base]
            after = ([v + 1] if frame != "object" else []) + \
                    ([end for _, end in _noun_phrases(words, v + 1)] if frame != "none" else [])
            if any(_ends_with_adverbial(words, a) for a in after):
                return True
    return False


def _sentence(words) -> str:
    text = " ".join(words)
    return text[:1].upper() + text[1:] + "."


def repairs(sentence: str) -> set[str]:
    """The kinds of single edit that make ``sentence`` acceptable.

    "agreement": a verb in its other number; "determiner": one determiner replaced by
    another; "order": one word moved elsewhere; "frame": a well-formed noun phrase right
    after a verb deleted, or one inserted there.
    """
    words = _words_of(sentence)
    edits = {"agreement": [], "determiner": [], "order": [], "frame": []}
    for i, w in enumerate(words):
        if w in VERB_FORMS:
            base, number = VERB_FORMS[w]
            other = next(f for f, (b, n) in VERB_FORMS.items() if b == base and n != number)
            edits["agreement"].append(words[:i] + [other] + words[i + 1:])
            edits["frame"].append(words[:i + 1] + ["the", "farmer"] + words[i + 1:])
            edits["frame"] += [words[:i + 1] + words[end:] for _, end in _noun_phrases(words, i + 1)]
        if w in DETERMINER_NUMBERS:
            edits["determiner"] += [words[:i] + [d] + words[i + 1:] for d in DETERMINER_NUMBERS if d != w]
        rest = words[:i] + words[i + 1:]
        edits["order"] += [rest[:j] + [w] + rest[j:] for j in range(len(words)) if j != i]
    return {rule for rule, candidates in edits.items() if any(acceptable(_sentence(c)) for c in candidates)}


def test_the_checker_knows_english_verb_frames_determiners_and_articles():
    good = ["The dogs help.", "The dogs help the teacher again.", "A dog with the cats sleeps.",
            "Some dog sleeps.", "Some dogs sleep every day.", "An old dog likes the cat.",
            "The sheep sleeps.", "The sheep sleep.", "The farmer watches in the morning."]
    bad = ["The dogs like.", "The dog sleeps the cat.", "The dog waits the cat.", "A old dog sleeps.",
           "An young dog sleeps.", "These dog sleeps.", "A dogs sleep.", "The dogs near the cat sleeps.",
           "Dog the sleeps.", "The dog the cat likes.", "the dog sleeps.", "The dog sleeps"]
    assert [s for s in good if not acceptable(s)] == []
    assert [s for s in bad if acceptable(s)] == []
    assert repairs("The dogs near the cat sleeps.") == {"agreement"}
    assert repairs("These dog sleeps.") == {"determiner"}
    assert repairs("The dog the cat likes.") == {"order"}
    assert repairs("The dog sleeps the cat.") == {"frame"}


@pytest.fixture(scope="module")
def corpus():
    """The corpus the offline notebook uses: make_offline_cola's default 6,000 + 800 sentences."""
    return cola.generate_corpus(6800, 0)


def test_acceptable_sentences_pass_the_independent_checker(corpus):
    wrong = [s for label, s, _ in corpus if label == 1 and not acceptable(s)]
    assert wrong == []


def test_every_unacceptable_sentence_breaks_exactly_its_rule(corpus):
    """Fails the checker, and only an edit of its own rule's kind repairs it."""
    accepted = [s for label, s, _ in corpus if label == 0 and acceptable(s)]
    assert accepted == []
    mismatched = [(s, rule, found) for label, s, rule in corpus if label == 0
                  for found in [repairs(s)] if found != {rule}]
    assert mismatched == []


def test_optional_object_verbs_appear_with_and_without_objects(corpus):
    """Both uses are in the acceptable sentences, and no unacceptable sentence blames their frame."""
    optional = {form for pair in cola.OPTIONAL_OBJECT for form in pair}
    endings = {"with": 0, "without": 0}
    for label, s, rule in corpus:
        words = _words_of(s)
        used = [i for i, w in enumerate(words) if w in optional]
        if label == 1 and used:
            endings["with" if _noun_phrases(words, used[0] + 1) else "without"] += 1
        assert not (used and rule == "frame"), s
    assert min(endings.values()) > 100, endings


def test_every_rule_is_broken_and_the_classes_are_cola_like(corpus):
    rules = {rule for label, _, rule in corpus if label == 0}
    assert rules == set(cola.RULES) == {"agreement", "determiner", "order", "frame"}
    assert all(rule == "" for label, _, rule in corpus if label == 1)
    share = sum(label for label, _, _ in corpus) / len(corpus)
    assert 0.66 < share < 0.74  # CoLA is about 70 % acceptable
    assert len({s for _, s, _ in corpus}) == len(corpus)


def test_agreement_errors_include_a_distractor_noun(corpus):
    """Some agreement errors have a prepositional phrase whose noun matches the wrong verb."""
    hard = [s for label, s, rule in corpus if rule == "agreement" and any(f" {p} " in s for p in cola.PREPOSITIONS)]
    assert len(hard) > 20


def test_offline_files_have_colas_layout_and_are_deterministic(tmp_path):
    a = cola.make_offline_cola(tmp_path / "a", n_train=200, n_val=50)
    b = cola.make_offline_cola(tmp_path / "b", n_train=200, n_val=50)
    for name in cola.SPLITS.values():
        assert (a / "raw" / name).read_bytes() == (b / "raw" / name).read_bytes()
        for line in (a / "raw" / name).read_text().splitlines():
            source, label, mark, sentence = line.split("\t")
            assert label in "01" and mark == ("" if label == "1" else "*")
            assert (source == cola.SOURCE_CODE) == (label == "1") and cola.rule_of(source) is not None
    assert cola.find_cola_problems(a) == []
    train = {s for _, s in cola.read_tsv(a / "raw" / "in_domain_train.tsv")}
    val = {s for _, s in cola.read_tsv(a / "raw" / "in_domain_dev.tsv")}
    assert not train & val


def test_load_cola_tensors(tmp_path, capsys):
    folder = cola.make_offline_cola(tmp_path / "c", n_train=300, n_val=40)
    data = cola.load_cola(base_dir=folder)
    X, y = data["train_inputs"], data["train_labels"]
    w2i = data["word_to_ix"]
    assert X.dtype == torch.long and X.shape[0] == 300 and y.shape == (300,) and y.dtype == torch.float32
    assert (X[:, 0] == w2i["<CLS>"]).all()
    assert w2i["<PAD>"] == 0 and w2i["<UNK>"] == 1 and w2i["<CLS>"] == 2
    longest = max(len(cola.tokenize(s)) for s in data["train_sentences"] + data["val_sentences"])
    assert X.shape[1] == longest + 1 == data["val_inputs"].shape[1]
    first = data["train_sentences"][0]
    ids = [w2i[w] for w in cola.tokenize(first)]
    assert X[0, 1:1 + len(ids)].tolist() == ids and (X[0, 1 + len(ids):] == 0).all()
    assert "given folder" in capsys.readouterr().out


def test_load_cola_keeps_the_rule_of_every_sentence(tmp_path, capsys):
    folder = cola.make_offline_cola(tmp_path / "r", n_train=300, n_val=40, seed=3)
    data = cola.load_cola(base_dir=folder)
    expected = cola.generate_corpus(340, 3)
    for split, rows in (("train", expected[:300]), ("val", expected[300:])):
        assert data[f"{split}_rules"] == [rule for _, _, rule in rows]
        assert data[f"{split}_sentences"] == [s for _, s, _ in rows]
        labels = data[f"{split}_labels"].tolist()
        assert all((rule == "") == (label == 1.0) for rule, label in zip(data[f"{split}_rules"], labels))
    assert set(data["train_rules"]) == {"", *cola.RULES}


def test_colas_own_files_record_no_rule(tmp_path, capsys):
    raw = tmp_path / "real" / "raw"
    raw.mkdir(parents=True)
    for name in cola.SPLITS.values():
        (raw / name).write_text("gj04\t1\t\tOur friends won't buy this analysis.\n"
                                "gj04\t0\t*\tThey drank the pub.\n")
    data = cola.load_cola(base_dir=tmp_path / "real")
    assert data["train_rules"] == data["val_rules"] == [None, None]


def test_a_corpus_from_an_older_generator_is_written_again(tmp_path):
    folder = cola.make_offline_cola(tmp_path / "old", n_train=50, n_val=10)
    train = folder / "raw" / cola.SPLITS["train"]
    train.write_text(train.read_text().replace(cola.SOURCE_CODE, "gen1"))
    assert cola.find_cola_problems(folder) == []  # a valid CoLA folder, but not this generator's
    cola.ensure_offline_cola(folder)
    assert cola.read_rows(train)[0][0].startswith(cola.SOURCE_CODE)
    assert len(cola.read_rows(train)) == 6000  # written again with the defaults


def test_encode_cuts_long_sentences_and_maps_unknown_words():
    w2i = cola.build_vocab(["the dog runs ."])
    out = cola.encode(["the cat runs fast and far away .", "dog"], w2i, max_length=5)
    assert out.shape == (2, 5)
    assert out[0].tolist() == [w2i["<CLS>"], w2i["the"], w2i["<UNK>"], w2i["runs"], w2i["<UNK>"]]
    assert out[1].tolist() == [w2i["<CLS>"], w2i["dog"], 0, 0, 0]


def test_tokenize_keeps_contractions_and_splits_punctuation():
    assert cola.tokenize("Our friends won't buy this, let alone that.") == [
        "our", "friends", "won't", "buy", "this", ",", "let", "alone", "that", "."]


def _cola_zip(folder, drop=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in cola.SPLITS.values():
            if name != drop:
                zf.write(folder / "raw" / name, f"cola_public/raw/{name}")
        zf.writestr("cola_public/README", "CoLA stand-in for tests")
    return buf.getvalue()


def test_download_is_validated_and_preferred_over_the_generated_corpus(server, isolated_data_root, tmp_path, capsys):
    src = cola.make_offline_cola(tmp_path / "src", n_train=120, n_val=30, seed=9)
    server.routes["/cola.zip"] = Route(_cola_zip(src, drop="in_domain_dev.tsv"))
    with pytest.raises(DownloadError, match="in_domain_dev.tsv is missing"):
        fetch("cola", url=server.url + "/cola.zip")
    assert not (isolated_data_root / "cola_public").exists()
    server.routes["/cola.zip"] = Route(_cola_zip(src))
    path = fetch("cola", url=server.url + "/cola.zip")
    assert path == isolated_data_root / "cola_public" and cola.find_cola_problems(path) == []
    data = cola.load_cola()
    assert data["source"] == "CoLA" and data["train_inputs"].shape[0] == 120


def test_without_a_download_the_generated_corpus_is_made_once(isolated_data_root, capsys):
    data = cola.load_cola()
    assert data["source"] == "generated offline corpus"
    assert (isolated_data_root / "cola_offline" / "raw" / "in_domain_train.tsv").exists()
    assert 0.65 < data["val_labels"].mean().item() < 0.75
