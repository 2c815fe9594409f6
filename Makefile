# Scorechain — every command sets up first (idempotent, seconds when nothing changed).
SHELL := /bin/bash
VENV := .venv/bin
BROWNIE := $(VENV)/brownie
NETWORK ?= development

.PHONY: setup demo explorer demo-report test test-anvil test-consortium test-ganache console fuzz-full bench reliability soak slither train-default clean

setup:  ## install everything (venv, npm chains and compiler shim, brownie networks)
	@bash scripts/toolchain/setup.sh

demo: setup  ## the main job, end to end on a local chain (CHAIN=ganache for Ganache)
	@$(VENV)/python -m scripts.demo $(if $(CHAIN),--chain $(CHAIN),)

explorer: setup  ## the explorer (a read-only web view) over the last `make demo`'s chain: http://127.0.0.1:8700/
	@$(VENV)/python -m scripts.explorer_demo $(if $(PORT),--port $(PORT),) $(if $(MODEL),--model $(MODEL),)

demo-report: setup  ## the demo, regenerating the committed reports/demo.md on purpose
	@$(VENV)/python -m scripts.demo $(if $(CHAIN),--chain $(CHAIN),) --report reports/demo.md

test: setup  ## every test on anvil, then the Ganache subset
	@bash scripts/toolchain/run_tests.sh

test-anvil: setup
	@$(BROWNIE) test tests --network development

test-consortium: setup  ## the contract and oracle suites on anvil-consortium: no base fee, gas price 0 (README: a consortium chain)
	@$(BROWNIE) test tests/contracts tests/oracle/integration --network anvil-consortium

test-ganache: setup
	@$(BROWNIE) test tests -m ganache --network ganache-cli

soak: setup  ## 5 oracle nodes (k=3) under a steady request stream with RPC cuts, a kill and reorgs -> reports/soak.{md,json} (SOAK_MINUTES, default 60; not in CI)
	@SCORECHAIN_SOAK_MINUTES=$(or $(SOAK_MINUTES),60) bash scripts/toolchain/without_anvil_leftovers.sh $(BROWNIE) run scripts/soak.py --network anvil-soak

slither: setup  ## Slither over contracts/; fails on an untriaged High/Medium (reports/slither-triage.json)
	@$(VENV)/python scripts/toolchain/slither.py

console: setup  ## brownie console on Ganache (NETWORK=development for anvil)
	@$(BROWNIE) console --network $(if $(filter development,$(NETWORK)),development,ganache-cli)

fuzz-full: setup  ## the lifecycle state machine's full profile: >= 20,000 transitions (~10 min: 21,236 in 568 s, 37 a second)
	@SCORECHAIN_FUZZ_PROFILE=full SCORECHAIN_FUZZ_REPORT=reports/fuzz_steps_full.json $(BROWNIE) test tests/contracts/test_lifecycle_state_machine.py --network development

.PHONY: fuzz-foundry fuzz-foundry-long
fuzz-foundry: setup  ## Foundry invariant suites (tests/foundry/), CI profile: 128,000 calls per invariant (~2 min)
	@bash scripts/toolchain/forge.sh test
fuzz-foundry-long: setup  ## the long profile, 10,240,000 calls per invariant, in 8 seeded shards (each over 18 min on 2 cores: one did not finish in that); SHARD=k runs one; recorded in reports/fuzz_foundry_long.json
	@$(VENV)/python scripts/toolchain/fuzz_foundry_long.py $(if $(SHARD),--shard $(SHARD),)

bench: setup  ## every benchmark under bench/ -> reports/benchmarks.{md,json} (~30 min; QUICK=1 for a fast pass)
	@$(VENV)/python bench/run_all.py --network $(NETWORK) $(if $(QUICK),--quick,)

reliability: setup  ## fault, outage, bad-input and attack runs + fuzz records -> reports/reliability.{md,json}
	@$(VENV)/python bench/reliability.py --network $(NETWORK)

train-default: setup  ## retrain and re-export the committed default model (models/default/)
	@$(VENV)/python -m models train-default

clean:  ## remove build output and set-up stamps (keeps the venv and node_modules)
	rm -rf build .setup-stamps .hypothesis
