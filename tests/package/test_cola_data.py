"""The CoLA loader, its download and the generated acceptability corpus.

The generated corpus is checked by an independent acceptability checker written here
(a parser of the grammar's sentence pattern with number agreement and verb frames): its
labels must agree with that checker on every sentence, so "unacceptable" really means a
rule is broken and "acceptable" means none is. The download is tested against a local
server with a zip in CoLA's layout.
"""
from __future__ import annotations

import io
import zipfile

import pytest
import torch

from dlcourse.data import cola
from dlcourse.download import DownloadError, fetch
from tests.package.test_download import Route, isolated_data_root, server  # noqa: F401 (fixtures)

SG_NOUNS = {sg for sg, _ in cola.NOUNS}
PL_NOUNS = {pl for _, pl in cola.NOUNS}
SG_DETS = set(cola.DETERMINERS["sg"])
PL_DETS = set(cola.DETERMINERS["pl"])
INTRANS = {v: n for pair in cola.INTRANSITIVE for v, n in zip(pair, ("sg", "pl"))}
TRANS = {v: n for pair in cola.TRANSITIVE for v, n in zip(pair, ("sg", "pl"))}
ADVERB_TAILS = [tuple(a.split()) for a in cola.ADVERBS]


def _noun_phrase(words, k, adjectives=True):
    """(number, next index) of a noun phrase starting at k, or None."""
    if k >= len(words) or words[k] not in SG_DETS | PL_DETS:
        return None
    det, k = words[k], k + 1
    if adjectives and k < len(words) and words[k] in cola.ADJECTIVES:
        k += 1
    if k >= len(words):
        return None
    noun = words[k]
    if noun in SG_NOUNS and det in SG_DETS:
        return "sg", k + 1
    if noun in PL_NOUNS and det in PL_DETS:
        return "pl", k + 1
    return None


def acceptable(sentence: str) -> bool:
    """Does the sentence follow the grammar: NP [P NP] V [NP] [adverb], with agreement?"""
    words = [w for w in cola.tokenize(sentence) if w != "."]
    subject = _noun_phrase(words, 0)
    if subject is None:
        return False
    number, k = subject
    if k < len(words) and words[k] in cola.PREPOSITIONS:
        pp = _noun_phrase(words, k + 1, adjectives=False)
        if pp is None:
            return False
        k = pp[1]
    if k >= len(words):
        return False
    verb, k = words[k], k + 1
    if verb in TRANS:
        if TRANS[verb] != number:
            return False
        obj = _noun_phrase(words, k)
        if obj is None:
            return False
        k = obj[1]
    elif verb in INTRANS:
        if INTRANS[verb] != number:
            return False
    else:
        return False
    rest = tuple(words[k:])
    return rest == () or rest in ADVERB_TAILS


@pytest.fixture(scope="module")
def corpus():
    return cola.generate_corpus(3000, seed=5)


def test_labels_agree_with_an_independent_grammar_checker(corpus):
    wrong = [(label, s, rule) for label, s, rule in corpus if acceptable(s) != bool(label)]
    assert not wrong, wrong[:5]


def test_every_rule_is_broken_and_the_classes_are_cola_like(corpus):
    rules = {rule for label, _, rule in corpus if label == 0}
    assert rules == {"agreement", "determiner", "order", "frame"}
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
            assert source == cola.SOURCE_CODE and label in "01" and mark == ("" if label == "1" else "*")
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
