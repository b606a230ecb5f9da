# heapprof_nb: every command a developer or CI needs. `make test` and `make demo` work on a fresh
# machine with Python 3.11 and pip; run as root they also apt-get the Debian packages they need.

PYTHON ?= python3
VENV ?= .venv
ASAN_VENV ?= .venv-asan
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=
DEBIAN_PACKAGES := graphviz chromium
BUILD_DIR := build

.PHONY: help venv system-deps install test test-fast test-c test-versions sanitize fuzz demo lab bench clean

help:
	@echo "make demo      - set up and execute notebooks/demo.ipynb and tuning.ipynb into $(BUILD_DIR)/*.html"
	@echo "make test      - set up and run the whole test suite, then the ASan+UBSan pass"
	@echo "make test-fast - the suite only, in the existing venv"
	@echo "make test-c    - the C unit tests (engine, digest, fuzz corpus) with ASan+UBSan, no Python"
	@echo "make sanitize  - the engine built with ASan+UBSan, its tests under PYTHONMALLOC=malloc"
	@echo "make test-versions - the suite on CPython 3.12-3.15 (3.14/3.15 in a Debian sid root)"
	@echo "make fuzz      - fuzz the log decoders for FUZZ_SECONDS (default 600)"
	@echo "make lab       - open the notebooks in JupyterLab"
	@echo "make bench     - run the benchmarks into benchmarks/results/"

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(VENV)/bin/python

# Debian packages (graphviz's dot for flow graphs, chromium for the browser test); installed only
# when missing and run as root.
system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "please install:$$missing (e.g. sudo apt-get install$$missing)"; fi; \
	fi

install: venv system-deps
	$(PIP) install --quiet '.[test]'

# Every run leaves JUnit XML in $(JUNIT); the last step prints one line per CPython from them.
JUNIT := $(abspath $(BUILD_DIR))/junit
PY_VERSION = $$($(1) -c 'import platform; print(platform.python_version())')

test: install
	rm -rf $(JUNIT)
	$(MAKE) test-fast PYTEST_ARGS="--junitxml=$(JUNIT)/main.xml"
	$(MAKE) test-c
	$(MAKE) sanitize
	$(MAKE) test-versions
	$(PY) tests/versions/summary.py $(JUNIT)

# The whole suite but the browser tests on CPython 3.12 and 3.13 (this machine's own) and 3.14
# and 3.15 (Debian sid's, in a root built once under ~/.cache), then a known heap profiled on
# every version and read back on every other.
test-versions:
	bash tests/versions/run.sh $(abspath $(PY))

test-fast:
	cd tests && ../$(PY) -m pytest -q -p no:cacheprovider --timeout=600 \
		-o junit_suite_name="CPython $(call PY_VERSION,../$(PY)), the whole suite" $(PYTEST_ARGS) .

# The C unit tests (native/tests) with ASan+UBSan and LeakSanitizer: executables that link the
# engine's and the digest's C files and no Python, run by `meson test`. The corpus tests read the
# logs fuzz/make_corpus.py writes with the installed package. meson and ninja come from PyPI.
C_TESTS := $(BUILD_DIR)/c-tests
C_CORPUS := $(abspath $(BUILD_DIR))/c-tests-corpus
test-c: venv
	$(PY) -c 'import mesonbuild, ninja' 2>/dev/null || $(PIP) install --quiet meson ninja
	$(PY) -c 'import heapprof_nb' 2>/dev/null || $(PIP) install --quiet --no-deps .
	rm -rf $(C_CORPUS)
	cd / && $(abspath $(PY)) $(abspath fuzz/make_corpus.py) $(C_CORPUS) >/dev/null
	[ -f $(C_TESTS)/build.ninja ] || PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/meson setup \
		$(C_TESTS) -Dtests=true -Dcorpus=$(C_CORPUS) -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fno-sanitize-recover=undefined
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/meson test -C $(C_TESTS) --suite c --print-errorlogs
	mkdir -p $(JUNIT)
	cp $(C_TESTS)/meson-logs/testlog.junit.xml $(JUNIT)/c.xml

# ASan + UBSan: a separate venv whose extension is built with the sanitizers; Python itself is
# not instrumented, so the runtime is preloaded and PYTHONMALLOC=malloc lets ASan see every block.
# allocator_may_return_null: a test asks NumPy for 1 EiB and expects MemoryError, not an ASan abort.
sanitize: system-deps
	[ -x $(ASAN_VENV)/bin/python ] || $(PYTHON) -m venv $(ASAN_VENV)
	$(ASAN_VENV)/bin/pip install --quiet --upgrade pip
	$(ASAN_VENV)/bin/pip install --quiet pytest pytest-timeout numpy graphviz
	$(ASAN_VENV)/bin/pip install --quiet --no-cache-dir --force-reinstall --no-deps \
		-Csetup-args=-Db_sanitize=address,undefined -Csetup-args=-Db_lundef=false \
		-Csetup-args=-Dc_args=-fno-sanitize-recover=undefined .
	cd tests && LD_PRELOAD="$$(gcc -print-file-name=libasan.so)" PYTHONMALLOC=malloc \
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		../$(ASAN_VENV)/bin/python -m pytest -q -p no:cacheprovider --timeout=900 \
		--junitxml=$(JUNIT)/asan.xml \
		-o junit_suite_name="CPython $(call PY_VERSION,../$(ASAN_VENV)/bin/python), ASan+UBSan build: engine, unit, hardening" \
		-m "not ipython and not notebook and not browser" engine unit hardening

# Longer fuzzing than the short run inside the suite: libFuzzer on the C decoder (needs clang),
# atheris on the Python reader and the digest. Findings go to build/fuzz/findings.
FUZZ_SECONDS ?= 600
fuzz: install
	@if [ "$$(id -u)" = 0 ] && ! command -v clang >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang; fi
	$(PIP) install --quiet atheris
	PYTHON=$(abspath $(PY)) bash fuzz/run.sh $(FUZZ_SECONDS)

demo: install
	mkdir -p $(BUILD_DIR)
	$(VENV)/bin/jupyter nbconvert --to html --execute notebooks/demo.ipynb \
		--ExecutePreprocessor.timeout=600 --output-dir $(BUILD_DIR) --output demo
	$(VENV)/bin/jupyter nbconvert --to html --execute notebooks/tuning.ipynb \
		--ExecutePreprocessor.timeout=600 --output-dir $(BUILD_DIR) --output tuning
	@echo
	@echo "The executed demo with its outputs: $(BUILD_DIR)/demo.html"
	@echo "Choosing a sampling rate, executed: $(BUILD_DIR)/tuning.html"
	@echo "To run it yourself in JupyterLab: make lab"

lab: install
	$(PIP) install --quiet jupyterlab
	$(VENV)/bin/jupyter lab notebooks/

bench: install
	PATH="$(abspath $(VENV))/bin:$$PATH" bash benchmarks/run_all.sh

clean:
	rm -rf $(BUILD_DIR) $(VENV) $(ASAN_VENV) .mesonpy-* builddir
	@echo "(the Debian sid root for 3.14/3.15 stays cached in ~/.cache/heapprof_nb)"
