"""Claim lines of the sample book (DATA_CONTRACT.md § lines): items from the product catalogues,
realistic amounts (condolence by victims), consent, where money was spent, lines spread over several
months, a few spent outside the expense window, and restated amounts in later months.

Amounts are small on purpose (claims are frequent): a line is lognormal around its item's typical
amount, times a factor drawn once per claim, so most claims cost tens to hundreds of thousands of
yen and a few cost more than a million. The designed claims of showcase.py get their written-out lines instead."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.products.load import ProductBook
from pipeline.sample.claims import (
    CONDOLENCE_ITEM,
    CORPORATE_UNITS,
    INDIVIDUAL_UNITS,
    ITEM_MEDIANS,
    ITEM_WEIGHTS,
    candidate_items,
    groups,
)
from pipeline.sample.dates import MISSING, Calendar, uniform_days
from pipeline.sample.policies import ensure_each
from pipeline.sample.showcase import designed_lines

LINES_MEAN = 7.3  # lines per claim over its life
NEVER_PAID_SHARE = 0.03
STRAY_ITEM_SHARE = 0.02  # an item of the catalogue that does not serve the plan/event
EARLY_SPEND_SHARE = 0.02  # expense spent before the insured knew (outside the window)
LINE_RESTATE_SHARE = 0.03
AMOUNT_SCALE = 0.008  # typical amounts (ITEM_MEDIANS) are those of a large claim: a drawn claim is smaller
SCHEME_AMOUNT_SCALE = 0.5  # and a group-scheme site is a small business
CLAIM_SIGMA = 1.0  # spread of the per-claim factor (lognormal)
LINE_SIGMA = 0.6  # spread of a line around its claim's typical amount
MIN_AMOUNT = 5_000  # a smaller draw becomes 5,000-15,000
INDIVIDUAL_VICTIMS = (2, 500)  # log-uniform
SCHEME_VICTIMS_MAX = 100  # a small business has fewer people to apologise to
CORPORATE_VICTIMS = (1, 4)


def make_lines(rng: np.random.Generator, book: ProductBook, cal: Calendar, claims: pd.DataFrame) -> pd.DataFrame:
    """Line rows (originals then restatements) for the original claims."""
    products = book.products
    clm = claims[claims["restated"] == 0].reset_index(drop=True)
    n_claims = len(clm)
    per_claim = np.where(clm["showcase"].isna(), 1 + rng.poisson(LINES_MEAN - 1, n_claims), 0)
    c = np.repeat(np.arange(n_claims), per_claim)
    first = np.r_[True, c[1:] != c[:-1]] if len(c) else np.zeros(0, dtype=bool)
    lag = np.where(first, 0, rng.geometric(0.45, len(c)) - 1)
    claim_month = clm["month"].to_numpy()
    month = claim_month[c] + lag
    keep = month <= cal.count - 1
    c, first, month = c[keep], first[keep], month[keep]
    n = len(c)

    product = clm["product"].to_numpy()[c]
    plan = clm["plan_key"].to_numpy()[c]
    event = clm["event_type"].to_numpy()[c]
    liability = clm["has_liability"].to_numpy()[c]
    item = np.empty(n, dtype=object)
    for (code, plan_name, event_code, liab), rows in groups(
        product=product, plan=plan, event=event, liability=liability
    ):
        prod = products[code]
        candidates = candidate_items(prod, plan_name, event_code, bool(liab))
        weights = np.array([ITEM_WEIGHTS.get(i, 0.5) for i in candidates])
        item[rows] = np.array(candidates, dtype=object)[
            rng.choice(len(candidates), len(rows), p=weights / weights.sum())
        ]
        if liab:
            parts = prod.items.set_index("item")["part"]
            liability_items = [i for i in candidates if parts[i] == "liability"] or [
                i for i in prod.items["item"] if parts[i] == "liability"
            ]
            lead = rows[first[rows]]
            item[lead] = np.array(liability_items, dtype=object)[rng.integers(0, len(liability_items), len(lead))]
    u = rng.random(n)
    never_paid = book.never_paid_items
    np_rows = np.flatnonzero(~first & (u < NEVER_PAID_SHARE))
    item[np_rows] = np.array(never_paid, dtype=object)[rng.integers(0, len(never_paid), len(np_rows))]
    for code, prod in products.items():
        part = prod.items.set_index("item")["part"]
        catalogue = prod.items["item"].tolist()
        stray = np.flatnonzero(
            ~first & (u >= NEVER_PAID_SHARE) & (u < NEVER_PAID_SHARE + STRAY_ITEM_SHARE) & (product == code)
        )
        pick = np.array(catalogue, dtype=object)[rng.integers(0, len(catalogue), len(stray))]
        ok = np.array(
            [liability[r] or part[i] != "liability" for r, i in zip(stray.tolist(), pick.tolist(), strict=True)],
            dtype=bool,
        )
        item[stray[ok]] = pick[ok]
        rows = np.flatnonzero((product == code) & ~first)
        options = catalogue + never_paid
        sub = item[rows]
        eligible = [liability[rows] | (part.get(i, "none") != "liability") for i in options]
        ensure_each(rng, sub, options, eligible)
        item[rows] = sub
    designed = designed_lines(book, clm)
    keep = designed["month"] <= cal.count - 1
    designed = {key: values[keep] for key, values in designed.items()}
    fixed = {
        "amount": np.r_[np.full(n, MISSING, dtype=np.int64), designed["amount"]],
        "victims": np.r_[np.full(n, MISSING, dtype=np.int64), designed["victims"]],
        "rank": np.r_[np.zeros(n, dtype=np.int64), designed["rank"]],
        "spent_in": np.r_[np.full(n, None, dtype=object), designed["spent_in"]],
    }
    c = np.r_[c, designed["c"]]
    product = np.r_[product, clm["product"].to_numpy()[designed["c"]]]
    return _line_values(
        rng, book, cal, clm, c, np.r_[month, designed["month"]], np.r_[item, designed["item"]], product, fixed
    )


def _line_values(
    rng: np.random.Generator, book: ProductBook, cal: Calendar, clm: pd.DataFrame, c: np.ndarray, month: np.ndarray,
    item: np.ndarray, product: np.ndarray, fixed: dict[str, np.ndarray],
) -> pd.DataFrame:  # fmt: skip
    """Amounts, victims, consent, place and date of each line. ``fixed["amount"]`` (not MISSING) marks a
    designed line, with its amount, victims and place given: it has consent and is spent inside the
    window, every other day in the order of its ``rank``."""
    products = book.products
    n = len(c)
    designed = fixed["amount"] != MISSING
    median = np.array([ITEM_MEDIANS.get(i, 500_000) for i in item.tolist()], dtype=float)
    scale = np.full(n, AMOUNT_SCALE)
    most_victims = np.full(n, float(INDIVIDUAL_VICTIMS[1]))
    for code, prod in products.items():
        if "fixed_terms" in prod.definition:
            scale[product == code] *= SCHEME_AMOUNT_SCALE
            most_victims[product == code] = SCHEME_VICTIMS_MAX
    claim_factor = rng.lognormal(0.0, CLAIM_SIGMA, len(clm))
    amount = median * scale * claim_factor[c] * rng.lognormal(0.0, LINE_SIGMA, n)
    amount = np.where(amount < MIN_AMOUNT, rng.uniform(MIN_AMOUNT, 3 * MIN_AMOUNT, n), amount)
    amount = np.where(amount >= 1_000_000, np.floor(amount / 1000) * 1000, np.floor(amount / 100) * 100).astype(
        np.int64
    )

    condolence = item == CONDOLENCE_ITEM
    individual = rng.random(n) < 0.85
    victims = np.where(
        individual,
        np.floor(np.exp(rng.uniform(np.log(INDIVIDUAL_VICTIMS[0]), np.log(most_victims), n))).astype(np.int64),
        rng.integers(CORPORATE_VICTIMS[0], CORPORATE_VICTIMS[1] + 1, n),
    )
    unit = np.where(
        individual,
        np.array(INDIVIDUAL_UNITS)[rng.integers(0, len(INDIVIDUAL_UNITS), n)],
        np.array(CORPORATE_UNITS)[rng.integers(0, len(CORPORATE_UNITS), n)],
    )
    amount = np.where(condolence, victims * unit, amount)
    individual |= designed
    victims = np.where(designed, fixed["victims"], victims)
    amount = np.where(designed, fixed["amount"], amount)
    victim_type = np.where(individual, "individual", "corporate").astype(object)
    victim_type[~condolence] = None
    victims = np.where(condolence, victims, MISSING)

    consent_needed = np.zeros(n, dtype=bool)
    expense = np.zeros(n, dtype=bool)
    for code, prod in products.items():
        table = prod.items.set_index("item")
        rows = product == code
        consent_needed |= rows & np.isin(item, table.index[table["consent"]].tolist())
        expense |= rows & np.isin(item, table.index[table["part"] == "expense"].tolist())
    u = rng.random(n)
    consent = np.where(
        consent_needed,
        np.where(u < 0.85, 1, np.where(u < 0.93, 0, -1)),
        np.where(u < 0.85, -1, np.where(u < 0.95, 1, 0)),
    ).astype(np.int8)
    consent[designed] = 1

    claim_overseas = clm["claim_jurisdiction"].to_numpy()[c] == "overseas"
    u = rng.random(n)
    overseas = (claim_overseas & (u < 0.4)) | (u > 0.98)
    spent_in = np.full(n, None, dtype=object)
    spent_in[rng.random(n) < 0.4] = "domestic"
    spent_in[overseas] = "overseas"
    spent_in[designed] = fixed["spent_in"][designed]

    known = clm["known_date"].to_numpy()[c]
    claim_month = clm["month"].to_numpy()[c]
    low = np.where(month == claim_month, known, np.maximum(known, cal.starts[month] - 25))
    spent = uniform_days(rng, low, cal.ends[month])
    early = expense & (rng.random(n) < EARLY_SPEND_SHARE) & ~designed
    spent = np.where(early, known - rng.integers(1, 30, n), spent)
    in_order = np.minimum(np.maximum(known, cal.starts[month]) + 2 * fixed["rank"], cal.ends[month])
    spent = np.where(designed, in_order, spent)

    frame = pd.DataFrame(
        {
            "claim_id": clm["claim_id"].to_numpy()[c],
            "item": item,
            "amount": amount,
            "spent_date": spent,
            "spent_in": spent_in,
            "insurer_consent": consent,
            "victims": victims,
            "victim_type": victim_type,
            "month": month,
            "product": product,
            "designed": designed,
        }
    )
    frame = frame.iloc[np.lexsort((spent, c, month))].reset_index(drop=True)
    frame.insert(0, "line_id", np.array([f"L{i + 1:08d}" for i in range(len(frame))], dtype=object))
    frame["restated"] = 0
    lines = pd.concat([frame, _restate_lines(rng, frame, cal)], ignore_index=True)
    return lines.sort_values(["month", "restated"], kind="stable", ignore_index=True)


def _restate_lines(rng: np.random.Generator, frame: pd.DataFrame, cal: Calendar) -> pd.DataFrame:
    """Later-month rows that restate a line: a revised amount, and consent obtained after the fact."""
    month = frame["month"].to_numpy()
    chosen = (
        (month < cal.count - 1)
        & (rng.random(len(frame)) < LINE_RESTATE_SHARE)
        & frame["victims"].eq(MISSING).to_numpy()
        & ~frame["designed"].to_numpy()
    )
    restated = frame[chosen].copy()
    m = month[chosen]
    restated["month"] = np.minimum(
        m + 1 + np.floor(rng.random(len(m)) * (cal.count - 1 - m)).astype(int), cal.count - 1
    )
    ratio = rng.uniform(0.6, 1.4, len(restated))
    restated["amount"] = (restated["amount"].to_numpy() * ratio // 1000).astype(np.int64) * 1000 + 1000
    restated["insurer_consent"] = np.where(restated["insurer_consent"] == 0, 1, restated["insurer_consent"]).astype(
        np.int8
    )
    restated["restated"] = 1
    return restated
