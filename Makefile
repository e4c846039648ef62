# `make run` and `make test` install what is missing (a virtualenv in .venv) first.
PYTHON ?= python3
VENV := .venv

# The real clients and servers the tests drive, from Debian's packages.
TEST_PACKAGES := skopeo docker.io docker-registry nginx
TEST_TOOLS := skopeo dockerd docker-registry nginx
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test bench clean test-packages

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

$(VENV)/.installed-run: setup.cfg setup.py | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.cfg setup.py | $(VENV)/bin/python
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	exec $(VENV)/bin/registry serve $(CONFIG)

test-packages:
	@for tool in $(TEST_TOOLS); do PATH="$$PATH:/usr/sbin:/sbin" command -v $$tool >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
		echo "installing the Debian packages the tests drive: $(TEST_PACKAGES)"; \
		$(SUDO) apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(TEST_PACKAGES); \
	fi

test: test-packages $(VENV)/.installed-test
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data
