#!/usr/bin/env bash
# The course's two commands (and the instructor verbs behind them):
#
#   ./course.sh pipeline      the main job: answers, release, sample submissions, autograde,
#                             feedback, grades table, book, public tree, leak check
#   ./course.sh test          the test suite (what CI runs); `./course.sh test-slow` runs
#                             the slow tests (full notebook executions, benchmarks)
#   ./course.sh setup         only create or update .venv (the pinned environment)
#   ./course.sh <verb> ...    any `python -m course` verb (answers, release, bench, ...)
#
# The first run creates .venv and installs the pinned requirements (requirements.txt)
# and the helper package; later runs reinstall only when those files change.
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
VENV=.venv
want=$(cat requirements.txt package/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.installed" 2>/dev/null)" != "$want" ]; then
    "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
    echo "[setup] creating $VENV and installing pinned dependencies (first run only)"
    "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r requirements.txt
    "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e package
    # jsonschema's optional IRI checker builds a grammar at import time: seconds in every
    # nbgrader process (one per graded student). Nothing here validates IRIs.
    "$VENV/bin/python" -m pip uninstall --quiet --yes rfc3987-syntax >/dev/null 2>&1 || true
    echo "$want" > "$VENV/.installed"
fi
export PATH="$PWD/$VENV/bin:$PATH" MPLBACKEND=Agg

cmd=${1:-help}
shift || true
case "$cmd" in
    setup)     echo "[setup] $VENV is ready" ;;
    test)      exec "$VENV/bin/python" -m pytest -m "not slow" "$@" ;;
    test-slow) exec "$VENV/bin/python" -m pytest -m slow "$@" ;;
    *)         exec "$VENV/bin/python" -m course "$cmd" "$@" ;;
esac
