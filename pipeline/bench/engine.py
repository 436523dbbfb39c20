"""The compute engine alone: synthetic but schema-valid PolicyValid / ClaimValid / LineValid frames
built with numpy (no loop over rows), cached as Parquet, then read back and adjudicated in a fresh
process (``python -m pipeline.bench engine-worker``) so that time and peak memory are the engine's.

Shape of the synthetic book (close to the sample generator's): ~5 lines per claim, ~2 claims per
policy, 30 % leak_lite; items, events, evidence and exclusion codes come from the ProductBook, with a
few lines that are not eligible (never-paid items, uncovered events or plans, dates outside cover,
exclusions, overseas, no consent) so that every step of the waterfall has work to do.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.bench.measure import Budget, peak_rss_self_mb, run_child
from pipeline.bench.reuse import recorded, reused
from pipeline.products import ProductBook, load_products

ENGINE_VERSION = 1
"""Bump when the synthetic frames change: the Parquet cache is rebuilt when it differs."""

LINES_PER_CLAIM = 5
CLAIMS_PER_POLICY = 2
FIRST_DAY = np.datetime64("2026-04-01", "D")
DAYS_OF_INCEPTION = 365
FRAMES = ("policies", "claims", "lines")
STEPS = ("waterfall", "eligibility")
"""The engine steps timed, each in its own process: the waterfall (``adjudicated_lines``, the target,
which includes eligibility) first, then eligibility alone (``eligible_lines``) if time is left."""


def sizes(lines: int) -> dict[str, int]:
    """Policies, claims and lines of a synthetic book of ``lines`` lines."""
    claims = max(1, lines // LINES_PER_CLAIM)
    return {"policies": max(1, claims // CLAIMS_PER_POLICY), "claims": claims, "lines": max(1, lines)}


# --- vectorised column builders -----------------------------------------------------------------


def ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    """``prefix`` + zero-padded ``numbers`` as a pandas string column (pyarrow kernels, no loop)."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width=width, padding="0")
    joined = pc.binary_join_element_wise(pa.scalar(prefix), digits, "")
    return pd.Series(joined.to_pandas(), dtype="str")


def pick(values: list[Any] | np.ndarray, codes: np.ndarray) -> pd.Series:
    """``values[codes]`` as a string column (a code of -1 gives an empty value)."""
    table = pa.array(list(values), type=pa.string())
    taken = table.take(pa.array(np.where(codes < 0, 0, codes), type=pa.int64()))
    if (codes < 0).any():
        taken = pc.if_else(pa.array(codes < 0), pa.scalar(None, pa.string()), taken)
    return pd.Series(taken.to_pandas(), dtype="str")


def days(values: np.ndarray) -> pd.Series:
    """Days (datetime64[D]) as ``datetime64[ns]`` (NaT stays NaT)."""
    return pd.Series(values.astype("datetime64[ns]"))


def months(values: np.ndarray) -> pd.Series:
    """``"YYYY-MM"`` of each day, clipped to the twelve bordereau months."""
    month = values.astype("datetime64[M]")
    first, last = FIRST_DAY.astype("datetime64[M]"), FIRST_DAY.astype("datetime64[M]") + 11
    month = np.clip(month, first, last)
    labels = np.arange(first, last + 1).astype(str)
    return pick(list(labels), (month - first).astype(np.int64))


def provenance(month: pd.Series, file: str, sheet: str, n: int) -> dict[str, Any]:
    return {
        "bordereau_month": month,
        "source_file": month + "/" + file,
        "source_sheet": pd.Series(np.full(n, sheet, dtype=object), dtype="str"),
        "excel_row": np.arange(n, dtype=np.int64) % 100_000 + 2,
    }


# --- the three frames -----------------------------------------------------------------------------


def make_policies(rng: np.random.Generator, book: ProductBook, n: int) -> pd.DataFrame:
    """``n`` PolicyValid rows: 30 % leak_lite (fixed terms), 70 % cyber_security (options)."""
    cyber = book.products["cyber_security"].definition
    options, rules = cyber["options"], cyber["option_rules"]
    fixed = book.products["leak_lite"].definition["fixed_terms"]
    lite = rng.random(n) < 0.3
    plan = np.where(lite, -1, rng.integers(0, 2, n))  # basic / wide
    leak_only = ~lite & (plan == 0) & (rng.random(n) < 0.15)
    it_business = ~lite & (rng.random(n) < 0.1)

    def option(column: str, high: np.ndarray | None = None) -> np.ndarray:
        values = np.array(options[column], dtype=np.int64)
        chosen = values[rng.integers(0, len(values), n)]
        if high is not None:
            chosen = np.minimum(chosen, values[np.searchsorted(values, high, side="right") - 1])
        return np.where(lite, int(fixed[column]), chosen)

    liability_limit = option("liability_limit")
    cap = int(rules["liability_limit_max_with_it_business"])
    liability_limit = np.where(it_business, np.minimum(liability_limit, cap), liability_limit)
    expense_high = liability_limit // 2  # option rule: at most 50 % of the liability limit
    expense_limit = option("expense_limit", np.where(lite, np.iinfo(np.int64).max, expense_high))
    start = FIRST_DAY + rng.integers(0, DAYS_OF_INCEPTION, n).astype("timedelta64[D]")
    period_start = days(start)
    period_end = (period_start + pd.DateOffset(years=1)).astype("datetime64[ns]")
    cover_days = (period_end - period_start).dt.days.to_numpy()
    cancelled = rng.random(n) < 0.04
    cancel = np.where(cancelled, start + rng.integers(30, 330, n).astype("timedelta64[D]"), np.datetime64("NaT"))
    cancel = np.where(cancelled & ((cancel - start).astype(np.int64) >= cover_days), np.datetime64("NaT"), cancel)
    revenue = pd.array(rng.integers(10, 5_000, n) * 1_000_000, dtype="Int64")
    payment = rng.choice(np.array(options["payment_method"], dtype=object), n)
    basis = rng.choice(np.array(options["premium_basis"], dtype=object), n)
    industries = ["情報通信業", "製造業", "卸売業", "小売業", "医療・福祉", "サービス業"]
    frame = pd.DataFrame(
        {
            **provenance(months(start), "policies.xlsx", "policies", n),
            "policy_id": ids("P", np.arange(1, n + 1), 7),
            "product": pick(["cyber_security", "leak_lite"], lite.astype(np.int64)),
            "insured_name": "株式会社ベンチ" + ids("", np.arange(1, n + 1) % 10_000, 4),
            "industry": pick(industries, rng.integers(0, len(industries), n)),
            "revenue": revenue,
            "premium_basis": pd.Series(np.where(lite, fixed["premium_basis"], basis), dtype="str"),
            "actual_revenue": pd.Series(pd.NA, index=range(n), dtype="Int64"),
            "plan": pick(["basic", "wide"], plan),
            "leak_only": leak_only,
            "it_business": it_business,
            "liability_limit": liability_limit,
            "liability_deductible": option("liability_deductible"),
            "expense_limit": expense_limit,
            "expense_deductible": option("expense_deductible"),
            "payment_method": pd.Series(np.where(lite, fixed["payment_method"], payment), dtype="str"),
            "period_start": period_start,
            "period_end": period_end,
            "join_date": pd.Series(np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")),
            "cancel_date": days(cancel),
        }
    )
    return frame


def make_claims(rng: np.random.Generator, book: ProductBook, policies: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` ClaimValid rows on random policies (a few policies have many claims): events that the
    policy's plan and riders cover (1 % that they do not), dates mostly inside cover, 55 % with a
    third-party claim (``claim_made_date``), 30 % in a series, 3 % with an exclusion code."""
    from pipeline.stages import coverage  # the engine's own tables (imported late: optional)

    n_policies = len(policies)
    owner = np.minimum((rng.pareto(2.5, n) * n_policies / 4).astype(np.int64), n_policies - 1)
    owner = rng.permutation(n_policies)[owner]
    on = policies.take(owner).reset_index(drop=True)
    events = book.event_types
    weights = np.array([0.38, 0.2, 0.1, 0.06, 0.1, 0.16])[: len(events)]
    event = pd.Series(np.array(events, dtype=object)[rng.choice(len(events), n, p=weights / weights.sum())])
    terms = on[["product", "leak_only", "it_business"]].assign(
        event_type=event.astype("str"), plan=coverage.coverage_plan(on, book)
    )
    table = coverage.event_terms(book)
    listed = terms.merge(table, on=["product", "event_type", "plan"], how="left", indicator=True)
    covered = (listed["_merge"] == "both").to_numpy().copy()
    for rider in coverage.all_riders(book):
        attached = listed[rider].to_numpy(dtype=bool)
        covered &= ~(listed[f"requires_{rider}"].eq(True).to_numpy() & ~attached)
        covered &= ~(listed[f"excluded_by_{rider}"].eq(True).to_numpy() & attached)
    event = event.where(covered | (rng.random(n) < 0.01), "leak")  # leak: covered by every plan
    start = on["period_start"].to_numpy().astype("datetime64[D]")
    known = start + rng.integers(-5, 370, n).astype("timedelta64[D]")  # a few outside cover
    notice = known + rng.integers(0, 60, n).astype("timedelta64[D]")
    made = rng.random(n) < 0.55
    claim_made = np.where(made, known + rng.integers(0, 90, n).astype("timedelta64[D]"), np.datetime64("NaT"))
    jurisdiction = np.where(made, (rng.random(n) < 0.05).astype(np.int64), -1)
    in_series = rng.random(n) < 0.3
    series_number = owner * 3 + rng.integers(0, 3, n)
    codes = book.evidence_codes
    evidence = pick(codes, rng.integers(0, len(codes), n))
    evidence = evidence.where(rng.random(n) < 0.6, evidence + ";" + pick(codes, rng.integers(0, len(codes), n)))
    evidence = evidence.where(rng.random(n) < 0.97, "")
    exclusion = np.full(n, None, dtype=object)
    excluded = rng.random(n) < 0.03
    product = on["product"].to_numpy(dtype=object)
    for code, definition in book.products.items():
        rows = excluded & (product == code)
        choices = np.array(list(definition.exclusions), dtype=object)
        exclusion[rows] = choices[rng.integers(0, len(choices), int(rows.sum()))]
    return pd.DataFrame(
        {
            **provenance(months(notice), "claims.xlsx", "claims", n),
            "claim_id": ids("C", np.arange(1, n + 1), 8),
            "policy_id": on["policy_id"],
            "event_type": event.astype("str"),
            "series_id": ids("S", series_number, 8).where(in_series),
            "known_date": days(known),
            "notice_date": days(notice),
            "claim_made_date": days(claim_made),
            "claim_jurisdiction": pick(["domestic", "overseas"], jurisdiction),
            "evidence": evidence,
            "exclusion_code": pd.Series(exclusion, dtype="str"),
            "cat_event_id": pd.Series(None, index=range(n), dtype="str"),
        }
    )


def make_lines(
    rng: np.random.Generator, book: ProductBook, claims: pd.DataFrame, claim_plan: pd.DataFrame, n: int
) -> pd.DataFrame:
    """Exactly ``n`` LineValid rows over the claims (~5 per claim): items the catalogue offers for the
    claim's product, plan and event (liability items only on claims with a ``claim_made_date``), 3 %
    never-paid items. ``claim_plan``: ``product`` and ``plan`` (the plan
    whose rules apply) of each claim."""
    from pipeline.stages import coverage  # the engine's own tables (imported late: optional)

    n_claims = len(claims)
    claim = np.repeat(np.arange(n_claims), 1 + rng.poisson(LINES_PER_CLAIM - 1, n_claims))
    if len(claim) < n:
        claim = np.concatenate([claim, rng.integers(0, n_claims, n - len(claim))])
    claim = np.sort(claim[:n])
    items = book.items()
    part = dict(zip(zip(items["product"], items["item"], strict=True), items["part"], strict=True))
    offered = coverage.item_availability(book)
    keys = pd.DataFrame(
        {
            "product": claim_plan["product"].to_numpy(dtype=object)[claim],
            "plan": claim_plan["plan"].to_numpy(dtype=object)[claim],
            "event_type": claims["event_type"].to_numpy(dtype=object)[claim],
            "made": claims["claim_made_date"].notna().to_numpy()[claim],
        }
    )
    group: dict[Any, Any] = keys.groupby(["product", "plan", "event_type", "made"], sort=False).indices
    item = np.full(n, "response", dtype=object)
    for key, rows in group.items():
        code, plan, event, made = key
        here = offered.loc[
            (offered["product"] == code) & (offered["plan"] == plan) & (offered["event_type"] == event), "item"
        ]
        names = [name for name in here if made or part[code, name] != "liability"]
        if not names:  # an uncovered event: any item of the product
            names = [name for (c, name), p in part.items() if c == code and (made or p != "liability")]
        item[rows] = np.array(names, dtype=object)[rng.integers(0, len(names), len(rows))]
    never_paid = rng.random(n) < 0.03
    item[never_paid] = np.array(book.never_paid_items, dtype=object)[
        rng.integers(0, len(book.never_paid_items), int(never_paid.sum()))
    ]
    condolence = item == "condolence"
    known = claims["known_date"].to_numpy().astype("datetime64[D]")[claim]
    spent = known + rng.integers(0, 200, n).astype("timedelta64[D]")
    amount = np.round(rng.lognormal(np.log(600_000), 1.1, n)).astype(np.int64)
    victims = pd.Series(rng.integers(1, 2_000, n), dtype="Int64").where(condolence)
    victim_type = np.where(condolence, (rng.random(n) < 0.2).astype(np.int64), -1)
    first_month = months(spent)
    return pd.DataFrame(
        {
            **provenance(first_month, "claims.xlsx", "lines", n),
            "line_id": ids("L", np.arange(1, n + 1), 9),
            "claim_id": claims["claim_id"].take(claim).reset_index(drop=True),
            "item": pd.Series(item, dtype="str"),
            "amount": amount,
            "spent_date": days(spent),
            "spent_in": pick(["domestic", "overseas"], (rng.random(n) < 0.03).astype(np.int64)),
            "insurer_consent": rng.random(n) < 0.95,
            "victims": victims,
            "victim_type": pick(["individual", "corporate"], victim_type),
            "first_month": first_month,
        }
    )


def make_frames(lines: int, *, seed: int = 2026, book: ProductBook | None = None) -> dict[str, pd.DataFrame]:
    """Synthetic PolicyValid, ClaimValid and LineValid frames with ``lines`` lines."""
    from pipeline.stages import coverage  # the engine's own tables (imported late: optional)

    book = book or load_products()
    n = sizes(lines)
    rng = np.random.default_rng(seed)
    policies = make_policies(rng, book, n["policies"])
    claims = make_claims(rng, book, policies, n["claims"])
    plans = policies[["policy_id", "product"]].assign(plan=coverage.coverage_plan(policies, book))
    claim_plan = claims[["policy_id"]].merge(plans, on="policy_id", how="left")
    return {
        "policies": policies,
        "claims": claims,
        "lines": make_lines(rng, book, claims, claim_plan, n["lines"]),
    }


# --- cache and worker -----------------------------------------------------------------------------


def marker(lines: int, seed: int) -> dict[str, Any]:
    return {"engine_version": ENGINE_VERSION, "lines": lines, "seed": seed}


def ensure_frames(folder: Path, lines: int, *, seed: int = 2026) -> dict[str, Any]:
    """Write the synthetic frames to ``folder/*.parquet`` unless they are there for these sizes;
    return what was done (``reused``, ``seconds``, rows per frame)."""
    folder = Path(folder)
    wanted = marker(lines, seed)
    marker_file = folder / "marker.json"
    if found := reused(marker_file, wanted, there=all((folder / f"{name}.parquet").exists() for name in FRAMES)):
        return {"reused": True, "seconds": 0.0, "rows": found.get("rows", {})}
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    frames = make_frames(lines, seed=seed)
    for name, frame in frames.items():
        frame.to_parquet(folder / f"{name}.parquet", index=False)
    rows = {name: len(frame) for name, frame in frames.items()}
    seconds = round(time.perf_counter() - started, 3)
    recorded(marker_file, wanted, rows=rows, build_seconds=seconds)
    return {"reused": False, "seconds": seconds, "rows": rows}


def read_frames(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(Path(folder) / f"{name}.parquet") for name in FRAMES}


def worker(folder: Path, step: str) -> dict[str, Any]:
    """In this (fresh) process: read the Parquet frames, run ``step`` (``eligibility``:
    ``eligible_lines``; ``waterfall``: ``adjudicated_lines``, which includes eligibility) and
    return the timings and peak memory as JSON-ready figures. The step's CPU time is split into
    user time (the engine's own work) and system time (mostly the kernel handing the process the
    memory it grows into: on a virtual machine whose host takes back freed memory, several
    seconds per GiB the first time it is touched; MEASUREMENTS.md § Speed)."""
    started = time.perf_counter()
    frames = read_frames(folder)
    read_seconds = time.perf_counter() - started
    read_peak = peak_rss_self_mb()
    book = load_products()
    module_name, function = ENGINE_FUNCTIONS[step]
    engine = getattr(importlib.import_module(module_name), function)
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    result = engine(frames["lines"], frames["claims"], frames["policies"], book)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    summary: dict[str, Any] = {
        "step": step,
        "lines": len(frames["lines"]),
        "claims": len(frames["claims"]),
        "policies": len(frames["policies"]),
        "read_seconds": round(read_seconds, 3),
        "seconds": round(seconds, 3),
        "user_seconds": round(after.ru_utime - cpu.ru_utime, 3),
        "system_seconds": round(after.ru_stime - cpu.ru_stime, 3),
        "peak_mb_after_read": read_peak,
        "peak_mb": peak_rss_self_mb(),
        "eligible_lines": int(result["reason"].eq("").sum()),
    }
    if "payable" in result.columns:
        summary["payable_total"] = int(result["payable"].sum())
    return summary


# --- the engine part of the bench (parent side) ---------------------------------------------------

ENGINE_FUNCTIONS = {
    "eligibility": ("pipeline.stages.eligibility", "eligible_lines"),
    "waterfall": ("pipeline.stages.waterfall", "adjudicated_lines"),
}


def bench_engine(folder: Path, lines: int, logs: Path, *, budget: Budget, max_rss_mb: float | None) -> dict[str, Any]:
    """Build (or reuse) the Parquet frames in a child process, then run each engine step in a fresh
    child; the record has ``status`` (``ok``, ``failed``, ``stopped``) and one entry per step with
    its seconds and peak memory."""
    record: dict[str, Any] = {"lines_requested": lines, "sizes": sizes(lines)}
    build_file = logs / "engine-build.json"
    build_file.unlink(missing_ok=True)
    child = run_child(
        [sys.executable, "-m", "pipeline.bench", "engine-build-worker", "--dir", str(folder),
         "--lines", str(lines), "--result", str(build_file)],
        logs, "engine-build", timeout=budget.child_timeout(), max_rss_mb=max_rss_mb,
    )  # fmt: skip
    if not child.ok:
        return {**record, "status": "failed", "error": f"building the frames: exit {child.returncode}\n{child.stderr}"}
    record["build"] = {**json.loads(build_file.read_text()), "wall_seconds": child.seconds, "peak_mb": child.peak_mb}
    status = "ok"
    for step in STEPS:
        if step != STEPS[0] and budget.left() < 10:
            record[step] = {"status": "skipped (time budget)"}
            continue
        result_file = logs / f"engine-{step}.json"
        result_file.unlink(missing_ok=True)
        child = run_child(
            [sys.executable, "-m", "pipeline.bench", "engine-worker", "--dir", str(folder), "--step", step,
             "--result", str(result_file)],
            logs, f"engine-{step}", timeout=budget.child_timeout(), max_rss_mb=max_rss_mb,
        )  # fmt: skip
        if child.ok and result_file.exists():
            record[step] = {
                "status": "ok",
                **json.loads(result_file.read_text()),
                "wall_seconds": child.seconds,
                "peak_mb": child.peak_mb,
            }
        elif child.killed:
            status = "stopped" if status == "ok" else status
            record[step] = {
                "status": f"stopped ({child.killed})",
                "wall_seconds": child.seconds,
                "peak_mb": child.peak_mb,
                "error": f"stopped by the bench ({child.killed}) after {child.seconds:.0f} s, "
                f"peak {child.peak_mb:,.0f} MiB",
            }
        else:
            status = "failed"
            record[step] = {"status": "failed", "returncode": child.returncode, "error": child.stderr}
    return {**record, "status": status}
