"""Numbers that chapter prose quotes from a figure are the numbers its script computes.

The attention chapter describes fig-attention-saturation in words and numbers ("grows to
about 22", "about 0.93 on average at d = 256", "shrinks to about a third"). The figure
script (book/figures/transformer.py) computes them; this test recomputes them and reads
the chapter, so a changed script or a retouched caption cannot drift apart.
"""
from __future__ import annotations

import re

import pytest

from course import ROOT
from tests.book.test_book import load_figure_module

DIMS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]


@pytest.fixture(scope="module")
def stats():
    return load_figure_module("transformer").saturation_stats(DIMS)


def test_attention_saturation_caption_matches_the_script(stats):
    text = (ROOT / "book" / "transformer.md").read_text()
    unscaled, scaled = stats["unscaled"], stats["scaled"]
    assert "grows from 1 to about 22" in text and round(unscaled["std"][-1]) in (22, 23)
    assert re.search(r"at \$d = 256\$ it\s+is about 0\.93 on average", text)
    assert unscaled["max_weight"][DIMS.index(256)] == pytest.approx(0.93, abs=0.01)
    assert "stays near 0.25 with scaling" in text and scaled["max_weight"][-1] == pytest.approx(0.25, abs=0.01)
    assert "shrinks to about a third" in text
    assert unscaled["jacobian"][DIMS.index(256)] / max(unscaled["jacobian"][:4]) == pytest.approx(1 / 3, abs=0.06)
    assert "below 0.1" in text and unscaled["jacobian"][-1] < 0.1
    assert all(s == pytest.approx(1.0, abs=0.03) for s in scaled["std"])


def test_gan_optimal_discriminator_caption_matches_the_script():
    """Does fig-gan-optimal-d's caption describe the generator and the D* the script draws?"""
    gan = load_figure_module("gan")
    text = re.sub(r"\s+", " ", (ROOT / "book" / "gan.md").read_text())
    left, right = gan.DATA_MODES
    assert "one broad bump over the right-hand mode and misses the left one" in text
    # the bump is centred near the right-hand mode, not between the modes
    assert abs(gan.GENERATOR_MEAN - right) < abs(gan.GENERATOR_MEAN - (left + right) / 2)
    d = gan.optimal_discriminator_curves([left, (left + right) / 2, right])["d_star"]
    assert "At the left mode, which only the data covers, $D^*$ is about 0.9" in text
    assert d[0] == pytest.approx(0.9, abs=0.05)
    assert "between the modes, where the generator puts mass the data lacks, about 0.1" in text
    assert d[1] == pytest.approx(0.1, abs=0.05)
    assert "at the right mode, where the generator's mass roughly matches the data, about 1/2" in text
    assert d[2] == pytest.approx(0.5, abs=0.05)
