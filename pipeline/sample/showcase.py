"""Designed claims of the sample book: a few claims whose lines are written out, not drawn.

The drawn claims are small (a believable loss ratio needs that), so the rules only large losses reach
would never fire. Each showcase below is one claim on a policy that fits it, added to the drawn
claims, so that the run still exercises:

* ``limits``: on a contract with the lowest liability limit (and so the lowest expense limit), a
  damages line above the liability limit, every sub-limited item of the claim's event over its
  10,000,000 sub-limit (two or more lines each), and the expense limit used up;
* ``attack``: on a contract with a high limit, a cyber attack whose investigation runs over its
  sub-limit (the largest claim paid in the book);
* ``scheme_cap``: on a group-scheme site, costs over the per-incident expense limit, with a
  condolence line over the victim cap;
* ``excluded_lawsuit``: on the contract with the highest limit, a lawsuit above 1億 that an exclusion
  removes (huge, reported, and not paid);
* ``abroad_on_narrow_plan``: on a contract whose plan covers neither claims made abroad nor spending
  abroad nor every item, one line of each (``overseas_claim``, ``overseas_expense``,
  ``item_not_covered``), rare reasons a small book might otherwise miss;
* ``risk_layer``: on a contract with a high limit, a lawsuit of about 80,000,000 payable: its 60%
  retained goes 18,000,000 into the per-risk excess-of-loss layer (70M xs 30M) of the 2026 treaty
  year, the annual aggregate deductible (10,000,000) takes the first of it, and the recovery pays a
  reinstatement premium (REINSURANCE.md);
* ``cat_vpn_*`` and ``cat_ransomware_*``: two cyber events (``CAT_EVENTS``), a mass-exploited VPN
  flaw and a ransomware wave, each a leak lawsuit of about 48,000,000 payable on four or five
  contracts with high limits, all known within days of the incident but notified over several
  weeks (so reported in two or three bordereau months), sharing one ``cat_event_id``: each claim's
  retained part stays under the per-risk retention, but each event's total goes over the event
  layer's 100,000,000 retention, so the event layer recovers and pays its reinstatement premium.

Items and events are the sample's flavour; a showcase is skipped when the book has no policy for it or
the product data no longer have its event, and lines whose item is not in the catalogue are dropped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.products.load import Product, ProductBook
from pipeline.sample.dates import MISSING, Calendar


@dataclass(frozen=True)
class Showcase:
    name: str
    scheme: bool  # on a group-scheme site (else on an individual contract)
    limit: str | None  # contracts: "lowest", "high" (top half of the options) or "highest" liability limit
    full_plan: bool  # a plan that serves every item of the catalogue (else one that does not)
    event: str
    liability: bool  # a third-party claim (claim_made_date, liability lines)
    overseas: bool  # the third-party claim is made abroad
    excluded: bool  # an exclusion that removes every part
    lines: tuple[tuple[int, str, int, int, str], ...]  # (months after the claim's, item, amount, victims, spent_in)
    cat_event: str | None = None  # cat_event_id written on the claim (a cyber event across policies)
    incident: tuple[int, int] | None = None  # (bordereau month index, day of month) the event happened
    notice_lag: int = 0  # days from the incident to the claim's notice


D, A = "domestic", "overseas"
SHOWCASES: tuple[Showcase, ...] = (
    Showcase("limits", False, "lowest", True, "leak", True, False, False, (
        (0, "defense", 1_500_000, 0, D),
        (0, "litigation_response", 6_500_000, 0, D),
        (0, "response", 800_000, 0, D),
        (0, "investigation", 2_400_000, 0, D),
        (0, "system_restoration", 6_000_000, 0, D),
        (1, "litigation_response", 3_000_000, 0, D),
        (1, "litigation_response", 2_000_000, 0, D),
        (1, "system_restoration", 6_500_000, 0, D),
        (1, "containment", 12_000_000, 0, D),
        (1, "damages", 24_000_000, 0, D),
        (2, "system_restoration", 1_200_000, 0, D),
        (2, "containment", 900_000, 0, D),
        (2, "prevention", 11_500_000, 0, D),
        (2, "prevention", 1_800_000, 0, D),
        (2, "litigation_response", 600_000, 0, D),
    )),
    Showcase("attack", False, "high", True, "cyber_other", False, False, False, (
        (0, "attack_investigation", 4_500_000, 0, D),
        (1, "attack_investigation", 6_000_000, 0, D),
        (2, "attack_investigation", 3_500_000, 0, D),
        (2, "attack_investigation", 800_000, 0, D),
    )),
    Showcase("scheme_cap", True, None, True, "leak", False, False, False, (
        (0, "response", 350_000, 0, D),
        (0, "condolence", 1_440_000, 1_200, D),  # 1,200 yen to each of 1,200 people
        (1, "data_restoration", 280_000, 0, D),
    )),
    Showcase("excluded_lawsuit", False, "highest", True, "leak", True, False, True, (
        (0, "defense", 12_000_000, 0, D),
        (1, "damages", 150_000_000, 0, D),
        (1, "response", 3_000_000, 0, D),
    )),
    Showcase("abroad_on_narrow_plan", False, None, False, "leak", True, True, False, (
        (0, "damages", 900_000, 0, D),
        (0, "response", 250_000, 0, A),
        (0, "credit_monitoring", 120_000, 0, D),
        (1, "defense", 400_000, 0, D),
        (1, "investigation", 300_000, 0, D),
    )),
    Showcase("risk_layer", False, "high", True, "leak", True, False, False, (
        (0, "defense", 4_000_000, 0, D),
        (1, "damages", 76_000_000, 0, D),
        (1, "response", 1_500_000, 0, D),
    )),
)  # fmt: skip
CAT_LINES = (
    (0, "defense", 2_500_000, 0, D),
    (0, "response", 2_000_000, 0, D),
    (1, "damages", 43_500_000, 0, D),
)  # one claim of a cyber event: about 48,000,000 payable, 60% retained stays under 30,000,000
CAT_EVENTS = (  # (cat_event_id, name, incident (month index, day), notice lag in days per claim)
    ("CAT-2026-VPN", "cat_vpn", (5, 8), (2, 9, 16, 30, 41)),
    ("CAT-2026-RANSOM", "cat_ransomware", (7, 14), (1, 5, 22, 35)),
)
SHOWCASES += tuple(
    Showcase(f"{name}_{k + 1}", False, "high", True, "leak", True, False, False, CAT_LINES, event, incident, lag)
    for event, name, incident, lags in CAT_EVENTS
    for k, lag in enumerate(lags)
)
FIRST_KNOWN_DAYS = (20, 60)  # the incident is known this many days after cover starts
INCIDENT_AFTER_START = 30  # a cyber event hits contracts whose cover started at least this many days before
NOTICE_DAYS = (1, 10)  # and notified this many days later


def _covers(product: Product, plan: str, showcase: Showcase) -> bool:
    """The plan (without riders) covers the event; a full plan serves every item of the catalogue, a
    narrow one does not, nor claims made or money spent abroad."""
    events = product.events.set_index("event_type")
    if showcase.event not in events.index:
        return False
    row = events.loc[showcase.event]
    if plan not in row["plans"] or len(row["requires_riders"]):
        return False
    full = all(plan in plans for plans in product.items["plans"])
    if not showcase.full_plan:
        return not full and plan not in row["overseas_claim_plans"] and plan not in row["overseas_spending_plans"]
    return full


def _limit_ok(values: np.ndarray, options: list[int], limit: str | None) -> np.ndarray:
    ordered = sorted(options)
    if limit == "lowest":
        return values == ordered[0]
    if limit == "highest":
        return values == ordered[-1]
    if limit == "high":
        return values >= ordered[len(ordered) // 2]
    return np.ones(len(values), dtype=bool)


def designed_claims(
    rng: np.random.Generator, book: ProductBook, cal: Calendar, pol: dict[str, np.ndarray], policies: pd.DataFrame
) -> dict[str, np.ndarray]:
    """One claim per showcase that fits the book: the columns make_claims draws for the others
    (``evidence`` is left to make_claims)."""
    restated = policies[policies["restated"] == 1]
    cancelled = set(restated.loc[restated["cancel_date"] != MISSING, "policy_id"])
    # a hashed lookup: numpy's isin compares each id with every cancelled id (quadratic in the book)
    free = ~pd.Series(pol["policy_id"]).isin(cancelled).to_numpy()
    columns = (
        "p", "known", "notice", "claim_made", "jurisdiction", "exclusion", "event", "liability", "showcase",
        "cat_event",
    )  # fmt: skip
    out: dict[str, list[object]] = {key: [] for key in columns}
    for showcase in SHOWCASES:
        span = max(offset for offset, *_ in showcase.lines)
        latest_start = int(cal.starts[max(cal.count - 1 - span, 0)]) - FIRST_KNOWN_DAYS[1] - NOTICE_DAYS[1]
        incident = None
        if showcase.incident is not None:
            month, day = showcase.incident
            if month >= cal.count or cal.month_of(np.array([int(cal.starts[month]) + day + showcase.notice_lag]))[0] > (
                cal.count - 1 - span
            ):
                continue
            incident = int(cal.starts[month]) + day - 1
            latest_start = incident - INCIDENT_AFTER_START
        fits = free & (pol["cover_start"] <= latest_start) & (pol["it_business"] != 1) & (pol["leak_only"] != 1)
        for code, product in book.products.items():
            is_scheme = "fixed_terms" in product.definition
            on = pol["product"] == code
            if is_scheme != showcase.scheme:
                fits &= ~on
                continue
            plans = [plan for plan in product.plans if _covers(product, plan, showcase)]
            fits &= ~on | np.isin(pol["plan_key"], plans)
            if not is_scheme:
                options = product.definition["options"]["liability_limit"]
                fits &= ~on | _limit_ok(pol["liability_cap"], options, showcase.limit)
        candidates = np.flatnonzero(fits)
        if not len(candidates) or cal.count <= span:
            continue
        p = int(rng.choice(candidates))
        free[p] = False
        product = book.products[str(pol["product"][p])]
        if incident is None:
            known = int(pol["cover_start"][p]) + int(rng.integers(*FIRST_KNOWN_DAYS))
            notice = known + int(rng.integers(*NOTICE_DAYS))
        else:  # known within days of the incident, notified after the showcase's lag
            known = incident + int(rng.integers(0, 2))
            notice = max(known, incident + showcase.notice_lag)
        parts = set(product.items["part"])
        removes_all = [c for c, removed in product.exclusions.items() if parts <= set(removed)]
        out["p"].append(p)
        out["known"].append(known)
        out["notice"].append(notice)
        out["claim_made"].append(notice - 1 if showcase.liability else MISSING)
        out["jurisdiction"].append(("overseas" if showcase.overseas else "domestic") if showcase.liability else None)
        exclusion = removes_all[int(rng.integers(0, len(removes_all)))] if showcase.excluded and removes_all else None
        out["exclusion"].append(exclusion)
        out["event"].append(showcase.event)
        out["liability"].append(showcase.liability)
        out["showcase"].append(showcase.name)
        out["cat_event"].append(showcase.cat_event)
    types = {"p": np.int64, "known": np.int64, "notice": np.int64, "claim_made": np.int64, "liability": bool}
    return {key: np.array(values, dtype=types.get(key, object)) for key, values in out.items()}


def designed_lines(book: ProductBook, clm: pd.DataFrame) -> dict[str, np.ndarray]:
    """The written-out lines of the designed claims: claim row, month, item, amount, victims, and the
    line's rank among the claim's lines of its month (they are spent in that order)."""
    by_name = {s.name: s for s in SHOWCASES}
    columns = ("c", "month", "item", "amount", "victims", "spent_in", "rank")
    out: dict[str, list[object]] = {key: [] for key in columns}
    months = clm["month"].to_numpy().tolist()
    products = clm["product"].tolist()
    for row, name in enumerate(clm["showcase"].tolist()):
        if not isinstance(name, str):
            continue
        catalogue = set(book.products[str(products[row])].items["item"])
        ranks: dict[int, int] = {}
        for offset, item, amount, victims, spent_in in by_name[name].lines:
            if item not in catalogue:
                continue
            out["rank"].append(ranks.setdefault(offset, 0))
            ranks[offset] += 1
            out["c"].append(row)
            out["month"].append(int(months[row]) + offset)
            out["item"].append(item)
            out["amount"].append(amount)
            out["victims"].append(victims if victims else MISSING)
            out["spent_in"].append(spent_in)
    types = {"c": np.int64, "month": np.int64, "amount": np.int64, "victims": np.int64, "rank": np.int64}
    return {key: np.array(values, dtype=types.get(key, object)) for key, values in out.items()}
