"""live.daphne_tuning: daphne walks its connections every CHECK_EVERY seconds,
and only a daphne whose walk still has the shape the wrapper relies on is tuned."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.live.conftest import ROOT


def run(script: str) -> subprocess.CompletedProcess:
    # In a process of its own: importing daphne.server installs Twisted's reactor.
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip


def test_it_walks_the_connections_every_fifth_second():
    # daphne's own walk, counted by the connections it reads.
    out = run("""
        import daphne.server as server
        walks, later = [], []
        class Connections(dict):
            def items(self):
                walks.append(1)
                return super().items()
        server.reactor.callLater = lambda delay, function: later.append(delay)
        from live import daphne_tuning
        daphne_tuning.apply()
        daphne_tuning.apply()  # idempotent: still one wrapper
        instance = object.__new__(server.Server)
        instance.connections = Connections()
        for _ in range(10):
            server.Server.application_checker(instance)
        print(len(walks), len(later), set(later))
    """).stdout
    # Every call reschedules once, 1 s later: 8 skipped ones and 2 of daphne's walks.
    assert out.split(maxsplit=2) == ["2", "10", "{1}\n"]


def test_the_pinned_daphne_has_the_walk_the_tuning_wraps():
    # Fails on a daphne whose application_checker changed: pyproject.toml pins it.
    result = run("""
        import inspect
        import daphne.server as server
        from live import daphne_tuning
        method = server.Server.application_checker
        print(list(inspect.signature(method).parameters))
        print(inspect.getsource(method).strip().splitlines()[-1].strip())
        print(repr(daphne_tuning.shape_problem(method)))
        daphne_tuning.apply()
        print(server.Server.application_checker.goknut_every)
    """)
    assert result.stdout.splitlines() == [
        "['self']",
        "reactor.callLater(1, self.application_checker)",
        "''",
        "5",
    ]
    assert "tuning skipped" not in result.stderr


def test_it_leaves_a_changed_walk_alone_with_a_warning(tmp_path):
    # Functions in a file, so that inspect can read their source as it does daphne's.
    (tmp_path / "changed.py").write_text(
        textwrap.dedent("""
        def takes_more(self, now):
            reactor.callLater(1, self.application_checker)

        def reschedules_otherwise(self):
            reactor.callLater(2, self.application_checker)
        """)
    )
    for name, problem in [
        ("takes_more", "it takes (self, now) instead of (self)"),
        (
            "reschedules_otherwise",
            "it does not call reactor.callLater(1, self.application_checker)",
        ),
    ]:
        result = run(f"""
            import sys; sys.path.insert(0, {str(tmp_path)!r})
            import changed
            import daphne.server as server
            server.Server.application_checker = changed.{name}
            from live import daphne_tuning
            daphne_tuning.apply()
            print(server.Server.application_checker is changed.{name})
        """)
        assert result.stdout.split() == ["True"]  # not wrapped
        warnings = [line for line in result.stderr.splitlines() if "tuning skipped" in line]
        assert len(warnings) == 1
        assert problem in warnings[0]


def test_it_leaves_other_servers_alone():
    out = run("""
        import sys
        from live import daphne_tuning
        daphne_tuning.apply()
        print('daphne.server' in sys.modules, 'twisted.internet.reactor' in sys.modules)
    """).stdout
    assert out.split() == ["False", "False"]
