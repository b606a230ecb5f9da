#!/usr/bin/env bash
# The whole suite (all but the browser tests, which run on the main Python only) on every other
# supported CPython, then the known-heap check on every version, each version reading the logs
# of all the others. Usage: run.sh MAIN_PYTHON (the venv python that ran the main suite).
#   3.12, 3.13: the host's own interpreters (pyenv on this machine's image, else /usr/bin).
#   3.14, 3.15: Debian sid's, in a sid root built once by sid_root.sh under the cache folder.
# The venvs are cached under the user's cache folder with the sid root, so a second run only
# reinstalls the package. Each run leaves its JUnit XML in build/junit/ (named for its interpreter); summary.py prints a
# line per run.
set -euo pipefail
cd "$(dirname "$0")/../.."
main_python=$1
results=build/junit
logs=build/known-heap-logs
rm -rf "$logs" "$results"/3.1[2-9].xml
mkdir -p "$logs" "$results"
PYTEST=(-m pytest -q -p no:cacheprovider --timeout=600 -rs -m "not browser")
SUITE_NAME="the whole suite but the browser tests"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/heapprof_nb"
status=0

find_host_python() {
    local version=$1 candidate
    for candidate in /root/.pyenv/versions/"$version".*/bin/python"$version" \
            /usr/bin/python"$version" /usr/local/bin/python"$version" "$(command -v "python$version" || true)"; do
        # The first candidate that really runs (a pyenv shim on PATH may exist and refuse to).
        if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c "pass" 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

run_host() {
    local version=$1 python venv
    if ! python=$(find_host_python "$version"); then
        echo "python$version: not installed on this machine" | tee "$results/$version.missing"
        status=1
        return
    fi
    venv="$cache/venv-$version"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade pip
    "$venv/bin/pip" install --quiet '.[test]'
    local name
    name="CPython $("$venv/bin/python" -c 'import platform; print(platform.python_version())')"
    echo "== $name: $SUITE_NAME"
    (cd tests && "$venv/bin/python" "${PYTEST[@]}" -o junit_suite_name="$name, $SUITE_NAME" \
        --junitxml="../$results/$version.xml" .) || status=1
    "$venv/bin/python" tests/versions/known_heap.py write "$logs" || status=1
}

# Everything in the sid root runs with a clean environment: the host's pip settings name local
# wheel folders the root does not have.
in_root() {
    chroot "$root" env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 TERM=dumb bash -c "$1"
}

unmount_root() {
    umount "$root/tmp/heapprof_nb-logs" 2>/dev/null || true
    umount "$root/proc" 2>/dev/null || true
}

run_sid() {
    local version=$1 venv=/opt/heapprof_nb/venv-$1 src=/tmp/heapprof_nb-src
    # The sources as git sees them (tracked and new files, not build output or venvs).
    rm -rf "${root:?}$src"
    mkdir -p "$root$src"
    git ls-files -z -co --exclude-standard | tar --null -cf - -T - | tar -xf - -C "$root$src"
    in_root "[ -x $venv/bin/python ] || python$version -m venv $venv"
    in_root "$venv/bin/pip install --quiet --upgrade pip && cd $src && $venv/bin/pip install --quiet '.[test]'"
    local name
    name="CPython $(in_root "$venv/bin/python -c 'import platform; print(platform.python_version())'") (Debian sid root)"
    echo "== $name: $SUITE_NAME"
    in_root "cd $src/tests && $venv/bin/python ${PYTEST[*]@Q} -o junit_suite_name=${name@Q}', $SUITE_NAME' \
        --junitxml=/tmp/heapprof_nb-junit.xml ." || status=1
    cp "$root/tmp/heapprof_nb-junit.xml" "$results/$version.xml" || status=1
    in_root "$venv/bin/python $src/tests/versions/known_heap.py write /tmp/heapprof_nb-logs" || status=1
}

run_host 3.12
run_host 3.13

root=$(bash tests/versions/sid_root.sh)
trap unmount_root EXIT
mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
mkdir -p "$root/tmp/heapprof_nb-logs"
mountpoint -q "$root/tmp/heapprof_nb-logs" || mount --bind "$logs" "$root/tmp/heapprof_nb-logs"
run_sid 3.14
run_sid 3.15

echo "== The known heap on 3.11, and every version reading every version's log"
"$main_python" tests/versions/known_heap.py write "$logs" || status=1
"$main_python" tests/versions/known_heap.py read "$logs" || status=1
for version in 3.12 3.13; do
    [ -x "$cache/venv-$version/bin/python" ] && { "$cache/venv-$version/bin/python" tests/versions/known_heap.py read "$logs" || status=1; }
done
for version in 3.14 3.15; do
    in_root "/opt/heapprof_nb/venv-$version/bin/python /tmp/heapprof_nb-src/tests/versions/known_heap.py read /tmp/heapprof_nb-logs" || status=1
done
exit $status
