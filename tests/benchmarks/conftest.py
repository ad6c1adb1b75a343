"""Shared benchmark helpers: each benchmark writes its own section of docs/perf.md.

A section sits between `<!-- perf:NAME -->` and `<!-- /perf:NAME -->` markers, so a
benchmark replaces its figures without touching the other sections. Each section
carries the machine it was measured on, because figures from different runs sit
side by side in the same file.
"""

from __future__ import annotations

import os
import platform
import re
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

PERF_MD = Path(__file__).resolve().parents[2] / "docs" / "perf.md"
PERF_HEADER = """# Performance

Benchmark results, written by `make bench` (tests/benchmarks/, marker `bench`).
Each section is replaced by the benchmark that owns it; edit the benchmark, not the
figures. Targets are in docs/architecture.md ("Performance bars").
The development VM's speed drifts: the same pure-Python loop has taken 0.87 to
1.26 s within a minute, and page figures moved 50% between runs an hour apart.
Each section's machine line carries a "reference loop" time taken when it was
written (lower is faster); compare sections and runs with it in mind.
"""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
    except OSError:
        pass
    return "unknown RAM"


def reference_loop_ms() -> float:
    """Best of three runs of a fixed pure-Python loop: the same code took 0.87 to
    1.26 s on this VM within a minute, so each section says how fast the
    machine was when it was measured (lower is faster)."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(2_000_000))
        best = min(best, time.perf_counter() - started)
    return best * 1000


def machine_info(extra: dict[str, str] | None = None) -> str:
    """One markdown line naming the machine and software a figure was measured on."""
    parts = [
        f"{os.cpu_count()} CPUs ({_cpu_model()})",
        f"reference loop {reference_loop_ms():.0f} ms",
        _ram(),
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
    ]
    parts += [f"{name} {value}" for name, value in (extra or {}).items()]
    return ", ".join(parts)


def write_perf_section(
    key: str,
    title: str,
    body: str,
    command: str,
    extra_machine: dict[str, str] | None = None,
    path: Path = PERF_MD,
) -> str:
    """Replace (or append) the section `key` of docs/perf.md; returns the section text.

    `body` is the benchmark's own markdown (tables, notes); the heading, date,
    command and machine line are added here so every section reads the same.
    """
    measured = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = (
        f"<!-- perf:{key} -->\n"
        f"## {title}\n\n"
        f"Measured {measured} with `{command}`\n"
        f"on {machine_info(extra_machine)}.\n\n"
        f"{body.strip()}\n"
        f"<!-- /perf:{key} -->"
    )
    text = path.read_text() if path.exists() else PERF_HEADER
    pattern = re.compile(
        rf"<!-- perf:{re.escape(key)} -->.*?<!-- /perf:{re.escape(key)} -->", re.DOTALL
    )
    if pattern.search(text):
        text = pattern.sub(lambda _match: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")
    return section


@pytest.fixture
def perf_report() -> Callable[..., str]:
    """write_perf_section, also printing the section so `make bench` shows the figures."""

    def _report(key: str, title: str, body: str, **kwargs) -> str:
        kwargs.setdefault("command", "make bench")
        section = write_perf_section(key, title, body, **kwargs)
        print("\n" + section, file=sys.stderr)
        return section

    return _report
