#!/usr/bin/env bash
# The course's two commands (and the instructor verbs behind them):
#
#   ./course.sh pipeline      the main job: answers, release, sample submissions, autograde,
#                             feedback, grades table, book, public tree, leak check
#   ./course.sh test          the default test suite; `./course.sh test-e2e` the end-to-end
#                             class runs (CI runs both); `./course.sh test-slow` the slow
#                             tests (full notebook executions, benchmarks)
#   ./course.sh setup         only create or update .venv (the pinned environment)
#   ./course.sh lock          compile requirements.in into requirements.txt (the lock)
#   ./course.sh <verb> ...    any `python -m course` verb (answers, release, bench, ...)
#
# The first run creates .venv and installs the lock (requirements.txt: every package pinned,
# with its hashes) and the helper package; later runs reinstall only when those files change.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv
want=$(cat requirements.txt package/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$want" ]; then
    "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
    echo "[setup] creating or updating $VENV from requirements.txt (the lock)"
    "$PY" -m venv "$VENV"
    # Exactly the lock's files: each must match a hash in requirements.txt, and nothing it
    # does not list is fetched (--no-deps: the lock holds every dependency, pip itself included;
    # tests/test_environment.py checks that).
    "$VENV/bin/python" -m pip install --quiet --require-hashes --no-deps -r requirements.txt
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e package
    # jsonschema's optional IRI checker builds a grammar at import time: seconds in every
    # nbgrader process (one per graded student). Nothing here validates IRIs. The lock leaves
    # it out ("# exclude:" in requirements.in); this removes it from an older .venv.
    "$VENV/bin/python" -m pip uninstall --quiet --yes rfc3987-syntax >/dev/null 2>&1 || true
    echo "$want" > "$VENV/.installed"
fi
export PATH="$PWD/$VENV/bin:$PATH" MPLBACKEND=Agg

cmd=${1:-help}
shift || true
case "$cmd" in
    setup)     echo "[setup] $VENV is ready" ;;
    lock)
        # requirements.in -> requirements.txt with uv (pinned in the lock itself), from PyPI, for
        # CPython 3.11 (3.11.5 and later: soupsieve's floor) on Linux x86_64. Pins already in
        # requirements.txt are kept unless `--upgrade` or `--upgrade-package NAME` is given;
        # packages on a "# exclude: NAME" line of requirements.in stay out with their dependencies.
        "$VENV/bin/uv" pip compile requirements.in --output-file requirements.txt --quiet \
            --generate-hashes --python-version 3.11.5 --python-platform x86_64-manylinux_2_28 \
            --excludes <(sed -n 's/^# exclude: *\([^ ]*\).*/\1/p' requirements.in) \
            --custom-compile-command "./course.sh lock" "$@"
        sed -i "3i # from requirements.in, sha256 $(sha256sum requirements.in | cut -d' ' -f1) (tests/test_environment.py)" requirements.txt
        echo "[lock] requirements.txt compiled from requirements.in; ./course.sh setup installs it" ;;
    # The default suite, then the end-to-end class runs (.ci/run runs both), each on two
    # worker processes (COURSE_TEST_PROCESSES; 0: in this process), by groups of tests that
    # share their fixtures, longest first (tests/conftest.py).
    test)      exec "$VENV/bin/python" -m pytest -m "not slow and not e2e" -n "${COURSE_TEST_PROCESSES:-2}" \
                   --dist loadscope "$@" ;;
    test-e2e)  exec "$VENV/bin/python" -m pytest -m "e2e and not slow" -n "${COURSE_TEST_PROCESSES:-2}" \
                   --dist loadscope "$@" ;;
    test-slow) exec "$VENV/bin/python" -m pytest -m slow "$@" ;;
    *)         exec "$VENV/bin/python" -m course "$cmd" "$@" ;;
esac
