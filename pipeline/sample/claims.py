"""Claims and claim lines of the sample book (DATA_CONTRACT.md § claims, § lines).

Claims arrive on policies at a rate per year of cover (high on purpose: a sample must exercise every
rule of CALCULATION.md), are reported in the month of their notice (sometimes a month later), and
collect lines over several months. Because claims are frequent, they are small (most cost tens to
hundreds of thousands of yen), so that the book's loss ratio stays believable.

The rules that only large losses reach (sub-limits, part limits, the scheme's per-incident expense
limit) are exercised by a few designed claims (``SHOWCASES``) added to the drawn ones, instead of by
a heavy tail that would put the book at thousands of percent.

Items, events, evidence and exclusion codes come from the ProductBook; the weights and typical
amounts below are only the sample's flavour."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.products.load import Product, ProductBook
from pipeline.sample.dates import MISSING, Calendar, uniform_days
from pipeline.sample.policies import ensure_each
from pipeline.sample.showcase import designed_claims

CLAIM_RATE = 1.25  # claims per policy-year of cover (individual contracts)
SCHEME_CLAIM_RATE = 0.35  # the same for group-scheme sites (small businesses, leak events only)
PRIOR_KNOWLEDGE_SHARE = 0.02  # known before cover started
LATE_REPORT_SHARE = 0.2  # reported in the month after the notice
LIABILITY_SHARE = 0.55  # claims with a third-party claim (claim_made_date and liability lines)
CLAIM_MADE_OUTSIDE_SHARE = 0.04
OVERSEAS_CLAIM_SHARE = 0.07
EXCLUSION_SHARE = 0.03
SERIES_SHARE = 0.4  # of policies with two or more claims
CLAIM_RESTATE_SHARE = 0.04

EVENT_WEIGHTS = {
    "leak": 0.38, "it_user": 0.2, "it_business": 0.1, "cyber_injury": 0.06, "cyber_threat": 0.1, "cyber_other": 0.16,
}  # fmt: skip
UNCOVERED_EVENT_WEIGHT = 0.01
ITEM_WEIGHTS = {
    "damages": 1.0, "defense": 0.8, "right_preservation": 0.2, "litigation_response": 0.3, "cooperation": 0.3,
    "response": 1.3, "investigation": 1.0, "publicity": 0.4, "legal_advice": 0.6, "consulting": 0.4,
    "condolence": 0.4, "credit_monitoring": 0.3, "regulatory": 0.3, "system_restoration": 0.6, "containment": 0.5,
    "prevention": 0.4, "attack_investigation": 1.0, "certification": 0.3, "misuse_monitoring": 0.4,
    "data_restoration": 0.5, "system_repair": 0.4, "reg_investigation": 0.3, "reg_prosecution": 0.1,
    "reg_prevention_plan": 0.2,
}  # fmt: skip
ITEM_MEDIANS = {  # yen; lines are lognormal around these
    "damages": 3_000_000, "defense": 1_500_000, "right_preservation": 800_000, "litigation_response": 2_000_000,
    "cooperation": 300_000, "response": 600_000, "investigation": 3_000_000, "publicity": 1_200_000,
    "legal_advice": 400_000, "consulting": 1_500_000, "credit_monitoring": 2_000_000, "regulatory": 800_000,
    "system_restoration": 4_000_000, "containment": 2_500_000, "prevention": 3_000_000,
    "attack_investigation": 2_500_000, "certification": 1_000_000, "misuse_monitoring": 800_000,
    "data_restoration": 1_500_000, "system_repair": 1_200_000, "reg_investigation": 700_000,
    "reg_prosecution": 1_000_000, "reg_prevention_plan": 600_000, "ransom": 10_000_000, "lost_profit": 5_000_000,
    "fines": 2_000_000, "salaries": 800_000, "insurance_premium": 200_000, "financing": 300_000,
}  # fmt: skip
CONDOLENCE_ITEM = "condolence"
INDIVIDUAL_UNITS = (300, 500, 800, 1_000, 1_500)
CORPORATE_UNITS = (10_000, 30_000, 50_000, 100_000, 150_000)


def _plan_of(product: Product, plan: object) -> str:
    return plan if isinstance(plan, str) else product.plans[0]


def groups(**columns: np.ndarray) -> list[tuple[tuple[Any, ...], np.ndarray]]:
    """(key, row positions) for each distinct combination of the given columns, in sorted order."""
    indices = pd.DataFrame(columns).groupby(list(columns), sort=True).indices
    return [(tuple(key), np.asarray(rows)) for key, rows in indices.items()]  # type: ignore[arg-type]


def needed_evidence(product: Product, plan: str, event: str) -> list[str]:
    """Evidence codes of which a claim of this plan and event needs one (empty: none needed)."""
    found = product.events.loc[product.events["event_type"] == event, "evidence"]
    return list(found.iloc[0].get(plan, ())) if len(found) else []


def _covered_events(product: Product) -> list[str]:
    return product.events["event_type"].tolist()


def candidate_items(product: Product, plan: str, event: str, liability: bool) -> list[str]:
    """Items a line of this claim is likely to carry: those serving the plan and event, else the
    event, else the whole catalogue; liability items only on claims with a third-party claim."""
    items = product.items
    if not liability:
        items = items[items["part"] != "liability"]
    serving = items[items["plans"].map(lambda p: plan in p) & items["events"].map(lambda e: event in e)]
    if serving.empty:
        serving = items[items["events"].map(lambda e: event in e)]
    if serving.empty:
        serving = items
    return serving["item"].tolist()


def _draw_events(
    rng: np.random.Generator, book: ProductBook, product: Product, pol: dict[str, np.ndarray]
) -> np.ndarray:
    codes = book.event_types
    covered = _covered_events(product)
    base = np.array([EVENT_WEIGHTS.get(c, 0.1) if c in covered else UNCOVERED_EVENT_WEIGHT for c in codes])
    n = len(pol["it_business"])
    events = np.empty(n, dtype=object)
    groups = pol["it_business"].astype(int) * 2 + (pol["leak_only"] == 1).astype(int)
    for group in np.unique(groups).tolist():
        rows = np.flatnonzero(groups == group)
        weights = base.copy()
        for k, code in enumerate(codes):
            if code == "it_business":
                weights[k] *= 4.0 if group >= 2 else 0.2
            if code == "leak" and group % 2 == 1:
                weights[k] *= 3.0
        events[rows] = np.array(codes, dtype=object)[rng.choice(len(codes), len(rows), p=weights / weights.sum())]
    ensure_each(rng, events, codes)
    return events


def _evidence(
    rng: np.random.Generator, book: ProductBook, products: dict[str, Product], product: np.ndarray, plan: np.ndarray,
    event: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Evidence codes: mostly what the event needs, sometimes none or the wrong kind (no_evidence)."""
    all_codes = book.evidence_codes
    out = np.full(len(event), None, dtype=object)
    for (code, plan_name, event_code), rows in groups(product=product, plan=plan, event=event):
        needed = needed_evidence(products[code], plan_name, event_code)
        wrong = [c for c in all_codes if c not in needed]
        u = rng.random(len(rows)).tolist()
        picks = rng.integers(0, 1 << 30, (len(rows), 2)).tolist()
        values: list[str | None] = []
        for x, (a, b) in zip(u, picks, strict=True):
            if needed and x < 0.8:
                chosen = [needed[a % len(needed)]]
                if x < 0.25 and len(needed) > 1 and needed[b % len(needed)] != chosen[0]:
                    chosen.append(needed[b % len(needed)])
                values.append(";".join(chosen))
            elif needed and x >= 0.9 and wrong:
                values.append(wrong[a % len(wrong)])
            elif not needed and x < 0.25:
                values.append(all_codes[a % len(all_codes)])
            else:
                values.append(None)
        out[rows] = np.array(values, dtype=object)
    return out


def _policy_view(policies: pd.DataFrame, products: dict[str, Product]) -> dict[str, np.ndarray]:
    original = policies[policies["restated"] == 0].reset_index(drop=True)
    view = {name: original[name].to_numpy() for name in original.columns}
    liability = view["liability_limit"].copy()
    for code, product in products.items():
        terms = product.definition.get("fixed_terms")
        if terms:
            liability = np.where(
                (view["product"] == code) & (liability == MISSING), terms["liability_limit"], liability
            )
    view["liability_cap"] = liability
    view["plan_key"] = np.array(
        [_plan_of(products[c], p) for c, p in zip(view["product"].tolist(), view["plan"].tolist(), strict=True)],
        dtype=object,
    )
    return view


def make_claims(
    rng: np.random.Generator, book: ProductBook, cal: Calendar, policies: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Claim rows (originals then restatements) and the per-claim facts the lines need."""
    products = book.products
    pol = _policy_view(policies, products)
    cover_start = pol["cover_start"]
    exposure = np.maximum(cal.last_day + 1 - cover_start, 0)
    scheme = np.isin(pol["product"], [c for c, prod in products.items() if "fixed_terms" in prod.definition])
    counts = rng.poisson(np.where(scheme, SCHEME_CLAIM_RATE, CLAIM_RATE) * exposure / 365.0)
    p = np.repeat(np.arange(len(cover_start)), counts)
    n = len(p)
    known = cover_start[p] + np.floor(rng.random(n) * exposure[p]).astype(np.int64) + rng.integers(0, 8, n)
    prior = rng.random(n) < PRIOR_KNOWLEDGE_SHARE
    known = np.where(prior, cover_start[p] - rng.integers(5, 60, n), known)
    notice = np.maximum(known, cover_start[p]) + rng.geometric(1 / 12, n) - 1
    keep = notice <= cal.last_day
    p, known, notice = p[keep], known[keep], notice[keep]
    n = len(p)
    month = cal.month_of(notice)
    month = month + ((rng.random(n) < LATE_REPORT_SHARE) & (month < cal.count - 1))

    product = pol["product"][p]
    plan = pol["plan_key"][p]
    event = np.empty(n, dtype=object)
    for code, prod in products.items():
        rows = np.flatnonzero(product == code)
        sub = {k: pol[k][p[rows]] for k in ("it_business", "leak_only")}
        event[rows] = _draw_events(rng, book, prod, sub)

    liability_possible = np.zeros(n, dtype=bool)
    for code, prod in products.items():
        liability_events = set()
        for events in prod.items.loc[prod.items["part"] == "liability", "events"]:
            liability_events.update(events)
        uncovered = [e for e in book.event_types if e not in _covered_events(prod)]
        possible = sorted(liability_events | set(uncovered))
        liability_possible |= (product == code) & np.isin(event, possible)
    has_liability = liability_possible & (rng.random(n) < LIABILITY_SHARE)
    made = has_liability | (liability_possible & (rng.random(n) < 0.05))
    claim_made = uniform_days(rng, known, notice)
    outside = has_liability & (rng.random(n) < CLAIM_MADE_OUTSIDE_SHARE)
    claim_made = np.where(outside, cover_start[p] - rng.integers(10, 200, n), claim_made)
    claim_made = np.where(made, claim_made, MISSING)
    jurisdiction = np.where(rng.random(n) < OVERSEAS_CLAIM_SHARE, "overseas", "domestic").astype(object)
    jurisdiction[~made] = None

    exclusion = np.full(n, None, dtype=object)
    for code, prod in products.items():
        rows = np.flatnonzero((product == code) & (rng.random(n) < EXCLUSION_SHARE))
        exclusion_codes = list(prod.exclusions)
        exclusion[rows] = np.array(exclusion_codes, dtype=object)[rng.integers(0, len(exclusion_codes), len(rows))]
    evidence = _evidence(rng, book, products, product, plan, event)

    designed = designed_claims(rng, book, cal, pol, policies)
    d = designed["p"]
    designed_evidence = []
    for row, event_code in zip(d.tolist(), designed["event"].tolist(), strict=True):
        needed = needed_evidence(products[str(pol["product"][row])], str(pol["plan_key"][row]), event_code)
        designed_evidence.append(needed[int(rng.integers(0, len(needed)))] if needed else None)
    p = np.concatenate([p, d])
    known = np.concatenate([known, designed["known"]])
    notice = np.concatenate([notice, designed["notice"]])
    month = np.concatenate([month, cal.month_of(designed["notice"])])
    assert (month >= pol["month"][p]).all()

    order = np.lexsort((p, notice, month))
    frame = pd.DataFrame(
        {
            "policy_id": pol["policy_id"][p],
            "event_type": np.concatenate([event, designed["event"]]),
            "known_date": known,
            "notice_date": notice,
            "claim_made_date": np.concatenate([claim_made, designed["claim_made"]]),
            "claim_jurisdiction": np.concatenate([jurisdiction, designed["jurisdiction"]]),
            "evidence": np.concatenate([evidence, np.array(designed_evidence, dtype=object)]),
            "exclusion_code": np.concatenate([exclusion, designed["exclusion"]]),
            "cat_event_id": np.concatenate([np.full(n, None, dtype=object), designed["cat_event"]]),
            "month": month,
            "product": pol["product"][p],
            "plan_key": pol["plan_key"][p],
            "has_liability": np.concatenate([has_liability, designed["liability"]]),
            "showcase": np.concatenate([np.full(n, None, dtype=object), designed["showcase"]]),
            "liability_cap": pol["liability_cap"][p],
            "policy_row": p,
        }
    ).iloc[order]
    frame = frame.reset_index(drop=True)
    frame.insert(0, "claim_id", np.array([f"C{i + 1:07d}" for i in range(len(frame))], dtype=object))
    frame.insert(3, "series_id", _series(rng, frame))
    frame["restated"] = 0
    restated = _restate_claims(rng, frame, products, cal)
    claims = pd.concat([frame, restated], ignore_index=True)
    claims = claims.sort_values(["month", "restated"], kind="stable", ignore_index=True)
    return claims, {}


def _series(rng: np.random.Generator, frame: pd.DataFrame) -> np.ndarray:
    """Group up to three claims of one policy into a series (一連の事故) for some policies."""
    series = np.full(len(frame), None, dtype=object)
    drawn = frame[frame["showcase"].isna()]  # a designed claim is its own series
    by_policy = drawn.sort_values(["policy_row", "known_date", "claim_id"], kind="stable")
    rows = by_policy.index.to_numpy()
    policy = by_policy["policy_row"].to_numpy()
    starts = np.flatnonzero(np.r_[True, policy[1:] != policy[:-1]])
    sizes = np.diff(np.r_[starts, len(policy)])
    chosen = (sizes >= 2) & (rng.random(len(starts)) < SERIES_SHARE)
    if not chosen.any() and (sizes >= 2).any():
        chosen[np.flatnonzero(sizes >= 2)[0]] = True
    ids = frame["claim_id"].to_numpy()
    for start, size in zip(starts[chosen].tolist(), sizes[chosen].tolist(), strict=True):
        members = rows[start : start + min(size, 3)]
        series[members] = "S" + ids[members[0]][1:]
    return series


def _restate_claims(
    rng: np.random.Generator, frame: pd.DataFrame, products: dict[str, Product], cal: Calendar
) -> pd.DataFrame:
    """Later-month rows that restate a claim: evidence completed or an exclusion found."""
    month = frame["month"].to_numpy()
    chosen = (month < cal.count - 1) & (rng.random(len(frame)) < CLAIM_RESTATE_SHARE) & frame["showcase"].isna()
    restated = frame[chosen].copy()
    m = month[chosen]
    restated["month"] = np.minimum(
        m + 1 + np.floor(rng.random(len(m)) * (cal.count - 1 - m)).astype(int), cal.count - 1
    )
    evidence = [e if isinstance(e, str) else None for e in restated["evidence"].tolist()]
    exclusion = [e if isinstance(e, str) else None for e in restated["exclusion_code"].tolist()]
    u = rng.random(len(restated)).tolist()
    for k, (code, plan, event) in enumerate(
        zip(restated["product"].tolist(), restated["plan_key"].tolist(), restated["event_type"].tolist(), strict=True)
    ):
        needed = needed_evidence(products[code], plan, event)
        if u[k] < 0.6 or not evidence[k]:
            extra = needed[-1] if needed else "authority_report"
            evidence[k] = extra if not evidence[k] else f"{evidence[k]};{extra}"
        else:
            exclusion[k] = next(iter(products[code].exclusions))
    restated["evidence"] = np.array(evidence, dtype=object)
    restated["exclusion_code"] = np.array(exclusion, dtype=object)
    restated["restated"] = 1
    return restated
