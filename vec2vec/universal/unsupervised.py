"""The unsupervised linear translator: moment-matched start, refinement, label-free choice among candidates.

For each pair of encoders: the moment search (moment_init) is run in both directions; its best distinct
solutions are candidates (an orthogonal map found from b to a is a map from a to b, transposed). Each candidate
gets a short refinement and a label-free score (selection), and the best-scoring one is refined fully.

With more than two encoders every pair is fitted, and the pairs whose fits score best form a maximum spanning
tree. A pair outside the tree also gets the map composed along its tree path as a second start (refined the
same way), and keeps whichever of its two maps scores higher. Why: a pair whose own start fails can still be
reached through encoders that both align well with (measured: MiniLM aligns with both USE and WordLlama, while
USE<->WordLlama alone does not), and the composed map is a start inside the refinement's basin.
"""

from __future__ import annotations

import functools
import itertools
import time
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from vec2vec.universal.aligner import register_aligner
from vec2vec.universal.linear import LinearAligner
from vec2vec.universal.moment_init import MomentInitConfig, moment_candidates
from vec2vec.universal.refine import RefineConfig, refine
from vec2vec.universal.selection import SelectionConfig, label_free_score

SCREEN = RefineConfig(schedule=((50, 20), (20, 15), (5, 15)), mutual_rounds=1, mutual_sample=8000)


@dataclass(frozen=True)
class LinearUnsupervisedConfig:
    init: MomentInitConfig = field(default_factory=MomentInitConfig)
    candidates: int = 3  # distinct moment solutions per direction given a short refinement and a score
    screen: RefineConfig = SCREEN  # the short refinement
    refine: RefineConfig = field(default_factory=RefineConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)


def distinct(maps: list[np.ndarray], limit: int, tol: float = 1e-2) -> list[np.ndarray]:
    """The first `limit` maps that differ from every earlier one (many starts converge to one solution)."""
    kept: list[np.ndarray] = []
    for w in maps:
        if all(np.abs(w - k).max() > tol for k in kept):
            kept.append(w)
        if len(kept) == limit:
            break
    return kept


def align_pair(
    xa: np.ndarray, xb: np.ndarray, cfg: LinearUnsupervisedConfig, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """Unsupervised orthogonal map (d_a, d_b) between two framed, unpaired sets, and what the fit measured."""
    t0 = time.perf_counter()
    forward, _ = moment_candidates(xa, xb, cfg.init, rng)
    backward, _ = moment_candidates(xb, xa, cfg.init, rng)
    starts = distinct(forward, cfg.candidates) + [w.T for w in distinct(backward, cfg.candidates)]
    t_init = time.perf_counter() - t0
    screened = []
    for w in starts:
        w = refine(xa, xb, w, cfg.screen, rng)
        screened.append((label_free_score(xa, xb, w, cfg.selection, rng), w))
    best = max(screened, key=lambda s: s[0])[1]
    t_screen = time.perf_counter() - t0 - t_init
    w = refine(xa, xb, best, cfg.refine, rng)
    info = {
        "init_s": t_init,
        "screen_s": t_screen,
        "refine_s": time.perf_counter() - t0 - t_init - t_screen,
        "candidate_scores": [s for s, _ in screened],
        "label_free": label_free_score(xa, xb, w, cfg.selection, rng),
    }
    return w, info


@register_aligner
class LinearUnsupervised(LinearAligner):
    """Orthogonal maps between centred frames, found without pairs."""

    kind = "linear"
    Config = LinearUnsupervisedConfig

    def _fit(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        framed = self.frames.fit(spaces)
        pairs = itertools.combinations(spaces, 2)
        fits = {(a, b): align_pair(framed[a], framed[b], self.config, rng) for a, b in pairs}
        fits, tree = route_through_tree(framed, fits, self.config, rng)
        for (a, b), (w, info) in fits.items():
            self.set_orthogonal(a, b, w)
            self.fit_info[f"{a}->{b}"] = info
        self.fit_info["tree"] = tree
        self.fit_info["label_free"] = {
            f"{s}->{d}": info["label_free"] for (a, b), (_, info) in fits.items() for s, d in ((a, b), (b, a))
        }


def route_through_tree(
    framed: dict[str, np.ndarray],
    fits: dict[tuple[str, str], tuple[np.ndarray, dict]],
    cfg: LinearUnsupervisedConfig,
    rng: np.random.Generator,
) -> tuple[dict[tuple[str, str], tuple[np.ndarray, dict]], list[list[str]]]:
    """Every pair's map (a, b) -> (w, info) after trying the maximum-score spanning tree's path as a second start.

    Returns the updated fits and the tree's edges. A pair off the tree keeps its direct map unless the refined
    path map scores higher; `info` records both scores and the path.
    """
    graph = nx.Graph()
    for (a, b), (_, info) in fits.items():
        graph.add_edge(a, b, score=info["label_free"])
    tree = nx.maximum_spanning_tree(graph, weight="score")

    def step(s: str, d: str) -> np.ndarray:
        return fits[(s, d)][0] if (s, d) in fits else fits[(d, s)][0].T

    out = dict(fits)
    for (a, b), (w, info) in fits.items():
        if tree.has_edge(a, b):
            continue
        path = nx.shortest_path(tree, a, b)
        start = functools.reduce(np.matmul, [step(s, d) for s, d in itertools.pairwise(path)])
        routed = refine(framed[a], framed[b], start, cfg.refine, rng)
        score = label_free_score(framed[a], framed[b], routed, cfg.selection, rng)
        info = info | {"direct_label_free": info["label_free"], "path": path, "path_label_free": score}
        if score > info["label_free"]:
            w, info["label_free"] = routed, score
        out[(a, b)] = (w, info)
    return out, sorted(sorted(e) for e in tree.edges)
