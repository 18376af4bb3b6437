"""The draw is uniform: 5 entries, 2 seats, 20,000 seeds through the draw's own
``drawn_order``, checked with chi-square tests at p = 0.001 (the figures are printed at
the end of the run).

The seeds are 256-bit hex strings like the draw's, made from SHA-256 of a counter rather
than from ``secrets``, so that the run and its figures can be repeated exactly; the
generator sees them as it sees any seed.

- Each entry's wins: W_i over n draws, m entries, k seats, p = k/m. The counts add up to
  n·k, so their covariance is that of sampling without replacement, n·p·q·m/(m-1) on the
  sum-zero subspace, and X² = (m-1)/(m·n·p·q) · Σ (W_i - n·p)² follows chi-square with
  m-1 = 4 degrees of freedom (bound 18.467).
- Which two win: 10 pairs equally likely, Pearson's X² with 9 degrees of freedom (27.877).
- The whole drawn order (who wins, and the waiting list's order): 120 orders equally
  likely, 119 degrees of freedom (172.418).
"""

from __future__ import annotations

import hashlib
import itertools
from collections import Counter

from cluster_events.registration.lottery import drawn_order

ENTRIES = (101, 102, 103, 104, 105)
SEATS = 2
DRAWS = 20_000
#: chi-square quantiles at 1 - 0.001 for 4, 9 and 119 degrees of freedom.
BOUND = {4: 18.467, 9: 27.877, 119: 172.418}


def _seeds():
    for number in range(DRAWS):
        yield hashlib.sha256(f"lottery-uniformity-{number}".encode()).hexdigest()


def _pearson(counts: Counter, cells: list, expected: float) -> float:
    return sum((counts[cell] - expected) ** 2 / expected for cell in cells)


def test_each_entry_wins_as_often_and_every_order_is_as_likely(report_figures):
    orders = [tuple(drawn_order(ENTRIES, seed)) for seed in _seeds()]
    wins = Counter(entry for order in orders for entry in order[:SEATS])
    pairs = Counter(frozenset(order[:SEATS]) for order in orders)
    whole = Counter(orders)

    m, n = len(ENTRIES), DRAWS
    p = SEATS / m
    q = 1 - p
    per_entry = (m - 1) / (m * n * p * q) * sum((wins[e] - n * p) ** 2 for e in ENTRIES)
    all_pairs = [frozenset(pair) for pair in itertools.combinations(ENTRIES, SEATS)]
    pair_figure = _pearson(pairs, all_pairs, n / len(all_pairs))
    all_orders = list(itertools.permutations(ENTRIES))
    order_figure = _pearson(whole, all_orders, n / len(all_orders))

    frequencies = {entry: wins[entry] / n for entry in ENTRIES}
    report_figures(
        draws=DRAWS,
        chi_square_wins_df4=round(per_entry, 3),
        chi_square_pairs_df9=round(pair_figure, 3),
        chi_square_orders_df119=round(order_figure, 3),
        lowest_win_frequency=round(min(frequencies.values()), 4),
        highest_win_frequency=round(max(frequencies.values()), 4),
    )
    assert sum(wins.values()) == n * SEATS
    assert per_entry < BOUND[4], frequencies
    assert pair_figure < BOUND[9], pairs
    assert order_figure < BOUND[119]
    assert len(whole) == len(all_orders)  # every order happens
