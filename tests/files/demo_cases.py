"""Hidden cases of the tiny `demo` assignment used by the pipeline tests (copied into a
temporary course as autograder/cases/demo.py)."""
import numpy as np

from autograder.cases import case


@case("softmax", tol=1e-9)
def softmax(ns):
    rng = np.random.RandomState(501)
    x = rng.randn(4, 6) * 3
    return {"probs": ns["softmax"](x)}


@case("pairwise_sq_dists", tol=1e-9)
def pairwise_sq_dists(ns):
    rng = np.random.RandomState(502)
    X, Y = rng.randn(5, 3), rng.randn(7, 3)
    return {"d": ns["pairwise_sq_dists"](X, Y)}


@case("counter", tol=0)
def counter(ns):
    c = ns["Counter"]()
    for word in "the cat saw the other cat the end".split():
        c.add(word)
    return {"top": np.array([c.count("the"), c.count("cat"), c.count("dog")])}
