"""live.daphne_tuning: daphne walks its connections every CHECK_EVERY seconds."""

from __future__ import annotations

import subprocess
import sys

from tests.live.conftest import ROOT

# In a process of its own: importing daphne.server installs Twisted's reactor.
SCRIPT = """
import daphne.server as server
walks, later = [], []
server.Server.application_checker = lambda self: walks.append(1)  # daphne's walk
server.reactor.callLater = lambda delay, function: later.append(delay)
from live import daphne_tuning
daphne_tuning.apply()
daphne_tuning.apply()  # idempotent: still one wrapper
instance = object.__new__(server.Server)
for _ in range(10):
    server.Server.application_checker(instance)
print(len(walks), len(later), set(later))
"""


def test_it_walks_the_connections_every_fifth_second():
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.split(maxsplit=2) == ["2", "8", "{1}\n"]


def test_it_leaves_other_servers_alone():
    script = "import sys; from live import daphne_tuning; daphne_tuning.apply(); "
    script += "print('daphne.server' in sys.modules, 'twisted.internet.reactor' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]
