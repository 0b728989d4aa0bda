"""Supplier lots: when they ship, where they go, and how lines consume them.

Every qualified (part, supplier) pair ships a new lot every 2-4 days. A lot goes to
one receiving site (sites take turns), arrives 1-3 days after shipping, is sampled at
IQC on its arrival day, and is then consumed FIFO by that site's lines: each unit
takes one piece of every part of its bill of materials from the oldest lot that still
has stock. When all stock is used up, the newest lot is over-drawn (the real stock
count was a little off), so production never stops.

The schedule starts ``WARMUP_DAYS`` before the run so that inventories are in a steady
state on day 0; lots shipped before day 0 have no supplier file and, if they arrived
before day 0, no IQC rows (they were received before the simulated period).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .world import LINES, PART_BY_CODE, PARTS, PRODUCT_BY_CODE, SITES, child_rng

WARMUP_DAYS = 20
UNITS_PER_LINE_DAY = 40  # at scale 1.0


@dataclass
class Lot:
    lot_id: str
    part: str
    supplier: str
    ship_day: int  # day index relative to the run start (may be negative)
    transit: int
    site: str  # receiving site
    qty: int
    pair_index: int

    @property
    def arrival_day(self) -> int:
        return self.ship_day + self.transit


def daily_demand(part: str, site: str, scale: float) -> float:
    """Expected pieces of ``part`` a site consumes per day."""
    base = max(1, round(UNITS_PER_LINE_DAY * scale))
    return float(sum(base for ln in LINES if ln.site == site and part in PRODUCT_BY_CODE[ln.product].parts))


def build_lot_schedule(
    seed: int,
    days: int,
    scale: float,
    switches: list[tuple[str, str, str, int]] | None = None,
    qty_factor: Callable[[str, str, int], float] | None = None,
) -> list[Lot]:
    """All lots shipped from ``-WARMUP_DAYS`` to the end of the run, deterministic.

    Guarantees at least one supplier shipment on every day of the run (a gap is
    closed by pulling the next scheduled lot forward), so every day has supplier files.

    Scenario runs only: ``switches`` lists planned supplier changes ``(part, old supplier,
    new supplier, day)`` (the old pair ships before ``day``, the new one from ``day``);
    ``qty_factor(part, site, arrival_day)`` scales a lot's quantity to a changed demand.
    """
    lots: list[Lot] = []
    pairs = [(p.code, s) for p in PARTS for s in p.suppliers]
    windows: dict[tuple[str, str], tuple[int, int]] = {}
    for part, old, new, day in switches or ():
        windows[(part, old)] = (-WARMUP_DAYS, day - 1)
        windows[(part, new)] = (day, days)
        pairs.append((part, new))
    for idx, (part, sup) in enumerate(pairs):
        rng = child_rng(seed, "lots", part, sup)
        n_sup = len(PART_BY_CODE[part].suppliers)
        # pieces per lot so that supply roughly balances demand: a pair ships every ~3 days
        # and its lots rotate over the 3 sites, so each site gets one of its lots every ~9 days
        mean_demand = sum(daily_demand(part, s.code, scale) for s in SITES) / len(SITES)
        base_qty = 9.0 * mean_demand / n_sup
        lot_no = int(rng.integers(10_000, 60_000))
        day = -WARMUP_DAYS + int(rng.integers(0, 4))
        ship_days = []
        while day < days:
            ship_days.append(day)
            day += int(rng.integers(2, 5))
        lo, hi = windows.get((part, sup), (-WARMUP_DAYS, days))
        for k, day in enumerate(ship_days):
            qty = max(10, int(round(base_qty * rng.uniform(0.95, 1.15))))
            site = SITES[(k + idx) % len(SITES)].code
            transit = int(rng.integers(1, 4))
            if not lo <= day <= hi:
                continue
            if qty_factor is not None:
                qty = max(10, int(round(qty * qty_factor(part, site, day + transit))))
            lots.append(Lot(f"{sup}-{part}-L{lot_no:05d}", part, sup, day, transit, site, qty, idx))
            lot_no += 1
    lots.sort(key=lambda lt: (lt.ship_day, lt.pair_index, lt.lot_id))
    # close gaps: every run day must see at least one shipment
    for d in range(days):
        if any(lt.ship_day == d for lt in lots):
            continue
        later = [lt for lt in lots if lt.ship_day > d]
        if later:
            nxt = min(later, key=lambda lt: (lt.ship_day, lt.pair_index))
            nxt.ship_day = d
    lots.sort(key=lambda lt: (lt.ship_day, lt.pair_index, lt.lot_id))
    return lots


class Inventory:
    """FIFO stock of supplier lots per (site, part)."""

    def __init__(self) -> None:
        self._stock: dict[tuple[str, str], deque[list]] = {}

    def receive(self, lot: Lot) -> None:
        self._stock.setdefault((lot.site, lot.part), deque()).append([lot, lot.qty])

    def take(self, site: str, part: str) -> Lot | None:
        """One piece of ``part`` for a unit built at ``site``; ``None`` if the site never had any."""
        q = self._stock.get((site, part))
        if not q:
            return None
        while len(q) > 1 and q[0][1] <= 0:
            q.popleft()
        q[0][1] -= 1
        return q[0][0]

    def consume(self, site: str, part: str, n: int) -> None:
        """Warm-up consumption without building units."""
        for _ in range(n):
            if self.take(site, part) is None:
                return
