"""`make bench` imports every benchmark only when it runs: a benchmark broken by a change
elsewhere (a helper renamed in a module it imports) must fail here, in `make test`, instead.

Imported in fresh interpreters: the load generator (`bench.load_users`) imports Locust, which
monkey-patches the standard library with gevent, so it gets an interpreter of its own."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import bench
from bench.run import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(f"bench.{m.name}" for m in pkgutil.iter_modules(bench.__path__))
APART = ("bench.load_users",)
CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    if name in {benchmarks!r}:
        assert callable(module.run), name + " has no run()"
"""


def test_every_benchmark_make_bench_runs_is_a_module_of_bench():
    assert set(BENCHMARKS) <= set(MODULES)


@pytest.mark.parametrize(
    "names", [[m for m in MODULES if m not in APART], *([m] for m in APART)], ids=str
)
def test_the_benchmark_modules_import(names):
    code = CHECK.format(benchmarks=set(BENCHMARKS))
    done = subprocess.run(
        [sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
