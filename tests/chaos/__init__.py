"""Whole-network fault injection with a Jepsen-style checker: `make chaos`,
`python -m tests.chaos`, and a bounded run in tests/chaos/test_chaos.py."""
