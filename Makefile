# Targets for building, testing and demonstrating regtrust.
#
#   make build       build bin/regtrust
#   make deps        install the Debian packages the lab needs (root)
#   make test        deps, go vet, then every test; the lab and
#                    end-to-end tests need root (see internal/lab)
#   make test-short  go vet, then the tests that need no root
#   make demo        deps, then regtrust on a throwaway lab (root)
#   make fuzz        run each fuzz target for FUZZTIME (default 10s)
#   make bench       compare regtrust with the SSH limit, OpenSSH and
#                    Ansible on a lab of HOSTS sshd-only hosts (root)

GO ?= go
BIN := bin

.PHONY: all build deps vet test test-short fuzz demo bench clean

all: build

build:
	$(GO) build -o $(BIN)/regtrust ./cmd/regtrust

deps:
	bash .ci/install-packages

vet:
	$(GO) vet ./...

# -count=1 because the lab tests depend on programs and files outside
# the module, which the test cache does not track.
# -p 1 runs one package at a time: the lab tests start dozens of
# processes and wait for dockerd restarts, and packages tested in
# parallel on a 2-core machine made those waits slow and uneven.
test: deps vet
	$(GO) test -count=1 -p 1 -timeout 15m ./...

test-short: vet
	$(GO) test -short ./...

demo: deps build
	$(GO) build -o $(BIN)/labdemo ./internal/lab/cmd/labdemo
	$(BIN)/labdemo -regtrust $(BIN)/regtrust

FUZZTIME ?= 10s
FUZZ_TARGETS := ./playbook:FuzzParse ./inventory:FuzzLoadYAML \
	./internal/daemonjson:FuzzMergeInsecure ./internal/certs:FuzzParseCAFile

# go test -fuzz takes one target at a time.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) "$${t%%:*}"; \
	done

HOSTS ?= 100
ROUNDS ?= 5

bench: build
	$(GO) build -o $(BIN)/sshlimit ./internal/bench/cmd/sshlimit
	$(GO) build -o $(BIN)/regbench ./internal/bench/cmd/regbench
	$(BIN)/regbench -hosts $(HOSTS) -rounds $(ROUNDS) -regtrust $(BIN)/regtrust -sshlimit $(BIN)/sshlimit
	$(GO) test -run '^$$' -bench '10000Hosts' -benchmem ./inventory ./playbook

clean:
	rm -rf $(BIN)
