# Every entry point of the project. `make run` and `make test` work from a fresh clone.
SHELL := /bin/bash
PYTHON := .venv/bin/python

.PHONY: setup mar run test test-fast train evaluate evaluate-photos score bench hostile-cost profile soak audit image push deploy minikube scale clean

setup: .venv/.installed auth_proxy/public/vendor/swagger-ui/.version

.venv/.installed: requirements/*.txt scripts/setup.sh
	scripts/setup.sh
	touch $@

# Swagger UI for the front door's /docs: the pinned release, checked (the auth-proxy image fetches its own).
auth_proxy/public/vendor/swagger-ui/.version: auth_proxy/fetch_swagger_ui.sh .venv/.installed
	auth_proxy/fetch_swagger_ui.sh auth_proxy/public/vendor/swagger-ui
	touch $@

mar: setup
	./build_mar.sh

run: mar
	scripts/serve.sh

test: setup
	$(PYTHON) -m pytest

# Unit tests, the handler in TorchServe's Context, build_mar.sh, the manifests: no server, under a minute.
test-fast: setup
	$(PYTHON) -m pytest -m "not server and not slow and not container"

# Two stages, each a fixed schedule: MNIST alone (model/mnist_only/), then MNIST with pictures as people send
# them, prepared by the handler (model/, the served weights). Each writes its test report.
train: setup
	$(PYTHON) -m training.train
	$(PYTHON) -m training.picture_tuning

evaluate: setup
	$(PYTHON) -m training.evaluate

# 2,800 photo-like pictures made from MNIST test digits, through the handler's preprocessing: accuracy by
# condition, photo_evaluation/results/accuracy.md and failures.png (a contact sheet of the misses).
evaluate-photos: setup
	$(PYTHON) -m photo_evaluation.evaluate_photos

score: setup
	$(PYTHON) -m training.score_over_http

# ~16 minutes on 127.0.0.1, the peers and phone photos included: writes bench/results/ and prints the table (stop other work first).
bench: setup
	$(PYTHON) -m bench.run_bench

# What reading each picture of the adversarial corpus costs a worker (CPU, peak memory): bench/results/hostile_cost.md.
hostile-cost: setup
	$(PYTHON) -m bench.hostile_cost

# 20 s of load while py-spy samples the workers: where the CPU and the workers' time go (bench/results/profile.md).
profile: setup
	$(PYTHON) -m bench.profile_serving

# 5 minutes of good and bad requests at a moderate rate; fails on any wrong answer or leak.
soak: setup
	$(PYTHON) -m bench.soak

# Known vulnerabilities in every package of .venv, from PyPI's advisory data. --strict fails when a package
# cannot be checked, e.g. behind a mirror without PyPI's JSON API, so "no findings" always means checked.
audit: setup
	.venv/bin/pip-audit --strict --progress-spinner off

# Kubernetes. minikube: build both images in minikube's Docker, deploy k8s/ (one rolling update), or both.
# Another cluster: make push REGISTRY=host/path, then make deploy REGISTRY=host/path (docs/kubernetes.md).
image:
	scripts/build_in_minikube.sh

push:
	REGISTRY=$(REGISTRY) scripts/build_images.sh --push

deploy:
	REGISTRY=$(REGISTRY) scripts/deploy.sh

minikube: image deploy

# TorchServe workers of every pod (the Deployment's setting, one rolling update): make scale WORKERS=1
scale:
	scripts/scale_workers.sh $(WORKERS)

clean:
	rm -rf model_store/*.mar logs key_file.json .pytest_cache
