"""Writes the tiny `demo` source notebook used by the pipeline tests.

Three graded functions (softmax 2 points, pairwise_sq_dists 3 points, Counter 1 point)
and a written question (2 points, manually graded)."""
from course.cells import answer, hidden_test, md, notebook, readonly, setup_cell, solution, task

CELLS = [
    md("# Demo assignment\nA tiny assignment for testing the pipeline."),
    setup_cell([]),
    readonly("imports", "import numpy as np"),
    solution("softmax", '''
def softmax(x):
    """Row-wise softmax of x (N, C) -> (N, C)."""
    ### BEGIN SOLUTION
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)
    ### END SOLUTION
'''),
    readonly("check_softmax", '''
p = softmax(np.array([[0.0, 0.0], [1000.0, 1000.0]]))
print("sanity:", np.allclose(p, 0.5))
'''),
    hidden_test("test_softmax", 2, ["demo/softmax"], "softmax"),
    solution("pairwise_sq_dists", '''
def pairwise_sq_dists(X, Y):
    """Squared distances between rows: X (N, D), Y (M, D) -> (N, M)."""
    ### BEGIN SOLUTION
    return ((X[:, None, :] - Y[None, :, :]) ** 2).sum(-1)
    ### END SOLUTION
'''),
    hidden_test("test_pairwise_sq_dists", 3, ["demo/pairwise_sq_dists"], "pairwise_sq_dists"),
    solution("Counter", '''
class Counter:
    """Counts words."""

    def __init__(self):
        self.counts = {}

    def add(self, word):
        ### BEGIN SOLUTION
        self.counts[word] = self.counts.get(word, 0) + 1
        ### END SOLUTION

    def count(self, word):
        ### BEGIN SOLUTION
        return self.counts.get(word, 0)
        ### END SOLUTION
'''),
    hidden_test("test_counter", 1, ["demo/counter"], "Counter"),
    readonly("train", '''
steps = 2 if FAST else 20  # grading only needs the cell to run
print("trained", steps, "steps")
'''),
    task("q_softmax", 2, "**Question.** Why subtract the row maximum?",
         "2 points: overflow of exp is avoided; 1 point if only 'numerical stability'."),
    answer("q_softmax_answer", "Subtracting the maximum keeps exp from overflowing and leaves the result unchanged."),
]


def write(path):
    from course.cells import write as write_nb

    write_nb(notebook(CELLS), path)
