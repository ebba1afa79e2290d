# The two commands a fresh machine needs: `make demo` and `make test`.
# Both install their prerequisites (Debian packages, the kube-apiserver and
# etcd builds, cached under the user cache directory) first.
GO ?= go
TEST_TIMEOUT ?= 75m

.PHONY: deps demo test unit vet

deps:
	./scripts/install-deps.sh
	@if [ -d internal/kubetest/cmd/kubebuild ]; then $(GO) run ./internal/kubetest/cmd/kubebuild; fi

demo: deps
	$(GO) run ./examples/lab demo

test: deps vet
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

unit:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...
