"""Policies that ids join, kept in one part: the Dask engine's parts that must hold whole groups of
policies, not single ones. Nothing here knows a rule; it only decides which rows go together.

Each policy is a node of a graph and each id that names rows of several policies (a claim id on two
policies, a line id under claims of two policies, a series on claims of several) an edge between
them; every connected component (``scipy.sparse.csgraph``) goes to the part of its first policy
(``policy_part``), so a policy that no id joins to another, the usual case, goes to its own part.
Two users: the cross-row validation of a month in parts (``pipeline.engine.validation_parts``, whose
edges are a month's ids and the rows on file they name) and the validated history kept on the
workers (``history_parts``: every version of a claim or line with every policy it was ever under).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components

from pipeline.arrow_text import positions
from pipeline.engine import policy_part
from pipeline.stages.versions import CLAIM_ID, POLICY_ID, FileOrder, Versions

NO_POLICY = ""
"""The policy of a row that names none that can be found (no policy id, a line whose claim is
nowhere): such rows go together, to the part of an empty id."""

Edges = tuple[np.ndarray, np.ndarray]
"""The two ends (node numbers) of a graph's edges."""


def policy_text(values: pd.Series) -> np.ndarray:
    """Policy ids as text, ``NO_POLICY`` where empty."""
    return values.astype("str").fillna(NO_POLICY).to_numpy(dtype=object)


def taken(values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """``values[at]``, ``NO_POLICY`` where ``at`` is -1."""
    return np.append(values, NO_POLICY)[at]


def linked(keys: pd.Series, nodes: np.ndarray) -> Edges:
    """Edges joining the nodes of the rows that share a key (each row's node to the node of the
    first row of its key); rows with no key join nothing."""
    codes, _ = pd.factorize(keys)
    rows = np.flatnonzero(codes >= 0)
    if not len(rows):
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    order = rows[np.argsort(codes[rows], kind="stable")]
    _, first = np.unique(codes[order], return_index=True)
    first_node = np.empty(codes.max() + 1, dtype=np.int64)
    first_node[codes[order[first]]] = nodes[order[first]]
    return first_node[codes[rows]], nodes[rows]


def joined(nodes: np.ndarray, others: np.ndarray, at: np.ndarray) -> Edges:
    """Edges joining each row's node to ``others[at]`` where ``at`` found one."""
    found = at >= 0
    return nodes[found], others[at[found]]


def numbered(named: Sequence[np.ndarray]) -> tuple[list[np.ndarray], pd.Series]:
    """The policy ids of several columns (``named``, as text) as node numbers, one array per column,
    and the ids of the nodes (``NO_POLICY`` always among them), as ``component_parts`` takes them."""
    every = [*named, np.array([NO_POLICY], dtype=object)]
    codes, ids = pd.factorize(np.concatenate(every))
    nodes = np.split(codes, np.cumsum([len(values) for values in every])[:-1])
    return nodes[:-1], pd.Series(ids, dtype=object)


def component_parts(ids: pd.Series, edges: Sequence[Edges], parts: int) -> np.ndarray:
    """The part (0 to ``parts`` − 1) of each node whose policy id is ``ids.iloc[node]``: each
    connected component of the graph of ``edges`` in the part of its first node (``policy_part`` of
    its id)."""
    start = np.concatenate([edge[0] for edge in edges]) if edges else np.empty(0, dtype=np.int64)
    end = np.concatenate([edge[1] for edge in edges]) if edges else np.empty(0, dtype=np.int64)
    graph = coo_array((np.ones(len(start), dtype=np.int8), (start, end)), shape=(len(ids), len(ids)))
    components, component = connected_components(graph, directed=False)
    first = np.full(components, len(ids), dtype=np.int64)
    np.minimum.at(first, component, np.arange(len(ids)))  # each component's first policy
    return policy_part(ids.iloc[first].reset_index(drop=True), parts).to_numpy()[component]


def version_edges(order: FileOrder, nodes: np.ndarray) -> Edges:
    """Edges joining the node of each row of a table of the history to the node of its id's first
    row (the versions of an id, found by the table's file order: no id is grouped again), only
    where the two differ (most versions stay under one policy)."""
    every = nodes[order.positions]
    first = nodes[order.positions[order.first_version]]
    moved = every != first
    return every[moved], first[moved]


def history_parts(versions: Versions, parts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The part of every row of the history's policies, claims and lines, so that each part holds
    every version of its policies, claims and lines and, as at any month, each line's claim and each
    claim's policy in force then: a claim's versions join the policies they name, a line's versions
    the policies of the claims they name (a line's policy is its claim's, found by the claim's first
    version: its versions are joined anyway; a claim or line whose policy or claim is nowhere goes
    with the rows of none). The claims engine then runs on each part as at any month as it runs on
    the whole. Worked on integer codes and the file orders ``versions`` has already found (a market
    book's history has millions of rows), not on Python strings."""
    history = versions.history
    policies, claims, lines = history.policies, history.claims, history.lines
    codes, uniques = pd.factorize(policies[POLICY_ID])
    ids = pd.concat([pd.Series(uniques), pd.Series([NO_POLICY], dtype=policies[POLICY_ID].dtype)], ignore_index=True)
    none = len(ids) - 1
    policy_node = np.where(codes >= 0, codes, none)
    claim_policy = positions(claims[POLICY_ID], pd.Series(uniques))
    claim_node = np.where(claim_policy >= 0, claim_policy, none)
    line_node = np.append(claim_node, none)[positions(lines[CLAIM_ID], claims[CLAIM_ID])]
    edges = [version_edges(versions.claims, claim_node), version_edges(versions.lines, line_node)]
    node_part = component_parts(ids, edges, parts)
    return node_part[policy_node], node_part[claim_node], node_part[line_node]
