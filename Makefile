# The two commands a newcomer needs: `make demo` and `make test`. Each does its own set-up.
.PHONY: all setup build test demo bench lint format clean

all: build

setup:
	@scripts/setup.sh

build: setup
	@scripts/build.sh

test: build
	@scripts/test.sh

demo: build
	@scripts/demo.sh

bench: build
	@scripts/bench.sh

lint: build
	@scripts/lint.sh

format:
	@scripts/lint.sh --fix

clean:
	rm -rf build
