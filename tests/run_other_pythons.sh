#!/usr/bin/env bash
# Builds heapprof_nb for every other CPython (3.12, 3.13) found on this machine and runs the
# engine and reader tests there. Interpreters that are not installed are reported and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for version in 3.12 3.13; do
    # The first candidate that really runs (a pyenv shim on PATH may exist and refuse to).
    python=""
    for candidate in /root/.pyenv/versions/"$version".*/bin/python"$version" \
            /usr/bin/python"$version" /usr/local/bin/python"$version" "$(command -v "python$version" || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c "pass" 2>/dev/null; then
            python=$candidate
            break
        fi
    done
    if [ -z "$python" ]; then
        echo "python$version: not installed here, skipped"
        continue
    fi
    venv=".venv-$version"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet pytest pytest-timeout numpy
    "$venv/bin/pip" install --quiet --force-reinstall --no-deps .
    echo "== $("$venv/bin/python" --version)"
    (cd tests && "../$venv/bin/python" -m pytest -q -p no:cacheprovider --timeout=600 \
        engine unit/test_reader.py) || status=1
done
exit $status
