"""Read what a visitor sees through the page hooks of docs/live-dom.md."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.browser.support import wait_until

LIVE_STATES = {"connected", "idle"}
LOST_STATES = {"reconnecting", "error"}

# One consistent reading of the page (a single JS task, so never half an update).
SNAPSHOT_JS = """
(withText) => {
  const number = (el) => el ? Number(el.textContent.replace(/[^0-9]/g, '')) : null;
  const visibleText = (el) => {
    // <time> may say "5 seconds ago": compare rows without it.
    const copy = el.cloneNode(true);
    copy.querySelectorAll('time').forEach((t) => t.remove());
    return copy.textContent.replace(/\\s+/g, ' ').trim();
  };
  const list = document.querySelector('[data-live-list]');
  const rows = list
    ? [...list.querySelectorAll(':scope > [data-id]')].map((row) => ({
        id: Number(row.dataset.id), text: withText ? visibleText(row) : null}))
    : null;
  const counts = {};
  for (const el of document.querySelectorAll('[data-live-key]')) {
    const field = el.querySelector('[data-field="total_messages"]');
    if (field && !(el.dataset.liveKey in counts)) counts[el.dataset.liveKey] = number(field);
  }
  const metrics = {};
  for (const el of document.querySelectorAll('[data-metric]')) {
    metrics[el.dataset.metric] = number(el);
  }
  const status = document.querySelector('[data-live-status]');
  return {
    order: list ? list.dataset.order : null,
    cap: list && list.dataset.cap ? Number(list.dataset.cap) : null,
    rows,
    counts,
    metrics,
    state: status ? status.dataset.state : null,
    statusText: status ? status.textContent.replace(/\\s+/g, ' ').trim() : null,
  };
}
"""


@dataclass
class Snapshot:
    order: str | None
    cap: int | None
    rows: list[dict] | None
    counts: dict[str, int]
    metrics: dict[str, int]
    state: str | None
    statusText: str | None

    @property
    def ids(self) -> list[int]:
        return [row["id"] for row in self.rows or []]

    @property
    def ids_newest_first(self) -> list[int]:
        return self.ids if self.order != "oldest-first" else self.ids[::-1]

    def texts(self) -> dict[int, str]:
        return {row["id"]: row["text"] for row in self.rows or []}

    def describe(self) -> str:
        ids = self.ids_newest_first
        head = ids[:8]
        return (
            f"state={self.state!r} status={self.statusText!r} order={self.order} "
            f"rows={len(ids)} newest={head} counts={self.counts} metrics={self.metrics}"
        )


def snapshot(page, *, with_text: bool = False) -> Snapshot:
    return Snapshot(**page.evaluate(SNAPSHOT_JS, with_text))


def assert_list_well_formed(snap: Snapshot) -> None:
    """Rows unique by id and in the list's declared order, at every moment."""
    assert snap.rows is not None, "page has no [data-live-list]"
    assert snap.order in {"newest-first", "oldest-first"}, f"bad data-order {snap.order!r}"
    ids = snap.ids_newest_first
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate rows {duplicates}: {snap.describe()}"
    assert ids == sorted(ids, reverse=True), f"rows out of order: {snap.describe()}"


def wait_for(page, done, timeout: float, what: str, *, invariant=None) -> Snapshot:
    """Read the page until `done(snapshot)`; check `invariant` on every reading."""
    last: list[Snapshot] = []

    def condition():
        snap = snapshot(page)
        last[:] = [snap]
        if invariant:
            invariant(snap)
        return done(snap)

    started = time.monotonic()
    try:
        wait_until(condition, timeout, interval=0.05)
    except AssertionError as exc:
        if "condition not met" not in str(exc):
            raise
        seen = last[0].describe() if last else "nothing"
        raise AssertionError(f"{what} not seen within {timeout}s; page shows {seen}") from None
    last[0].elapsed = time.monotonic() - started
    return last[0]


def wait_live(page, timeout: float = 10) -> Snapshot:
    """Wait until the page's status says its live stream is connected."""
    return wait_for(page, lambda s: s.state in LIVE_STATES, timeout, "a connected live status")


def wait_for_all(watches, timeout: float, what: str) -> dict[str, Snapshot]:
    """Like wait_for, for several pages at once: `watches` is a list of
    (label, page, done, invariant). Pages are read in turn, so each is seen
    within one round (a few tens of ms) of reaching its state."""
    deadline = time.monotonic() + timeout
    reached: dict[str, Snapshot] = {}
    last: dict[str, Snapshot] = {}
    while True:
        for label, page, done, invariant in watches:
            if label in reached:
                continue
            snap = last[label] = snapshot(page)
            if invariant:
                invariant(snap)
            if done(snap):
                reached[label] = snap
        if len(reached) == len(watches):
            return reached
        if time.monotonic() > deadline:
            missing = [
                f"{label}: {last[label].describe()}" for label in last if label not in reached
            ]
            raise AssertionError(f"{what} not seen within {timeout}s on\n" + "\n".join(missing))
        time.sleep(0.02)


# Each row's markup by id, the live client's brief highlight left out.
ROWS_JS = """
(marker) => Object.fromEntries(
  [...document.querySelectorAll('[data-live-list] > [data-id]')]
    .filter((row) => row.textContent.includes(marker))
    .map((row) => {
      const copy = row.cloneNode(true);
      copy.classList.remove('is-new');
      return [copy.dataset.id, copy.outerHTML];
    }))
"""
