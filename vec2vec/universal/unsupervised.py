"""The unsupervised linear translator: many candidate starts, screened by successive halving, then refinement.

Candidates for each pair of encoders come from two searches in the top principal subspaces, each run in both
directions (an orthogonal map found from b to a is a map from a to b, transposed): the moment search
(moment_init: right on MiniLM/USE and MiniLM/WordLlama) and iterative-closest-point optima (icp_init: the
right start is among them on MiniLM/E5, where the moment search fails). Which candidate is right cannot be told
in the subspace, only after refining it in the full space, and refinement is the costly part, so the candidates
are screened by successive halving: every one gets a brief refinement and the label-free score (selection), the
best few a longer one, and so on; the finalists are refined fully, and the best-scoring one is refined further
while its score still rises (a right start can converge slowly). With `restarts`, the whole pair fit runs that
many times and the best-scoring map is kept (the screen's ranking of starts runs on margins within its noise).
Last, each pair's map gets a few transport steps on one plan between all its training vectors (`polish`), far
denser than the search's batches: denser plans move the refinement's fixed point closer to the true map.

With more than two encoders every pair is fitted, and the pairs whose fits score best form a maximum spanning
tree. A pair outside the tree also gets the map composed along its tree path as a second start (refined the
same way), and keeps whichever of its two maps scores higher. Why: a pair whose own start fails can still be
reached through encoders that both align well with (measured: MiniLM aligns with both USE and WordLlama, while
USE<->WordLlama alone does not), and the composed map is a start inside the refinement's basin.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import time
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
from tqdm.auto import tqdm

from vec2vec.universal.aligner import register_aligner
from vec2vec.universal.icp_init import SubspaceICPConfig, icp_candidates
from vec2vec.universal.linear import LinearAligner
from vec2vec.universal.moment_init import MomentInitConfig, Side, moment_candidates
from vec2vec.universal.refine import DenseTransportConfig, RefineConfig, dense_transport, refine, wasserstein_procrustes
from vec2vec.universal.selection import SelectionConfig, label_free_score, score_sample, translated_mixing


@dataclass(frozen=True)
class ScreenStage:
    """One round of successive halving: refine every surviving candidate, score it, keep the best `keep`."""

    refine: RefineConfig
    sample: int  # points a side in the label-free score
    keep: int

    def __post_init__(self) -> None:
        if self.keep < 1 or self.sample < 2:
            raise ValueError(
                f"a screen stage needs keep >= 1 and sample >= 2, got keep={self.keep}, sample={self.sample}"
            )


# Measured on MiniLM->E5 (60 ICP candidates): the right start ranks first after stage 1 by a hair (0.1258 vs
# 0.1257), and the margin grows as refinement proceeds (stage 2: 0.121 vs 0.116; a damped stage 3: 0.093 vs
# 0.081). The last stage moves the whole way to each new Procrustes fit (damping 1): a right start still at
# FOSCTTM 0.13 after stage 2 converges then (0.013, top-1 0.32 in 21 s) and outscores the wrong survivors (0.081
# vs 0.062), where the damped step had left it at 0.128 and ranked it last (MiniLM->E5, seed 1: top-1 0.002 ->
# 0.867). It runs 80 iterations, not 40: with 40, a right start reached the last stage but was still at FOSCTTM
# 0.11-0.12 and lost by a hair (MiniLM->E5 seed 2: 0.057 vs 0.058; E5->USE seed 0: 0.065 vs 0.066); with 80 it
# wins (0.072 vs 0.057 at FOSCTTM 0.018; 0.061 vs 0.059 at 0.115). Every survivor of stage 2 is a finalist, refined
# fully before the choice, because the last stage's scores are too close to rank them: on E5->USE seed 0 they were
# 0.0659, 0.0643, 0.0623, and full refinement took the first to top-1 0.815 (label-free 0.255), the second to 0.934
# (0.266), the third to 0.030 (0.177); after a change of rounding alone (a faster top-k), the right one scored
# third (0.0672, 0.0623, 0.0612) and two finalists missed it (0.822).
SCREEN = (
    ScreenStage(RefineConfig(schedule=((50, 8),), batch=500, targets=4000), sample=1500, keep=12),
    ScreenStage(RefineConfig(schedule=((50, 10), (20, 10)), batch=500, targets=5000), 2000, keep=3),
    ScreenStage(RefineConfig(schedule=((20, 40), (5, 40)), targets=8000, damping=1.0), 4000, keep=3),
)


@dataclass(frozen=True)
class ConvergeConfig:
    """Wasserstein-Procrustes blocks run after the final refinement for as long as each raises the label-free score.

    Why: a right start can converge slowly, and a fixed budget stops it half way. Measured on USE->WordLlama (seed
    2, the bench fit at top-1 0.157): eight blocks of ((0.5, 20), (0.9, 40)) took top-1 to 0.262, 0.408, 0.532,
    0.616, 0.681, 0.755, 0.763, 0.770 (oracle 0.905), and the score rose with it (0.222 -> 0.282 at block 6, then
    flat within its noise). The score is taken on one fixed sample, so that a block's gain is the map's change, not
    a new sample's noise. The loop ends when the last `window` blocks together raised the best score by no more than
    `tolerance`: a slow climb starts with small steps (on USE->WordLlama seeds 0 and 1 the first block gained 0.0014
    and 0.0018, and a rule of one block under 0.002 stopped both there).
    """

    block: tuple[tuple[float, int], ...] = ((0.5, 20), (0.9, 40))  # a refine transport_schedule
    max_blocks: int = 10  # 0: off
    window: int = 2  # blocks whose summed gain is compared with the tolerance
    tolerance: float = 0.002

    def __post_init__(self) -> None:
        if self.max_blocks < 0 or self.window < 1 or self.tolerance < 0 or not self.block:
            raise ValueError(
                "converge needs max_blocks >= 0, window >= 1, tolerance >= 0 and a non-empty block of (memory, "
                f"batches), got {self.max_blocks}, {self.window}, {self.tolerance}, {self.block}"
            )
        RefineConfig(transport_schedule=self.block)  # checks each (memory, batches)


@dataclass(frozen=True)
class LinearUnsupervisedConfig:
    init: MomentInitConfig = field(default_factory=MomentInitConfig)
    candidates: int = 3  # distinct moment solutions per direction
    icp: SubspaceICPConfig | None = field(default_factory=SubspaceICPConfig)  # None: moment candidates only
    screen: tuple[ScreenStage, ...] = SCREEN
    refine: RefineConfig = field(default_factory=lambda: RefineConfig(transport_schedule=((0.5, 30), (0.9, 50))))
    converge: ConvergeConfig = field(default_factory=ConvergeConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    # Whole pair fits, one after another on one random stream; the best label-free score is kept. Why: a pair fit
    # misses the right start on some seeds (bench.quality: MiniLM/E5 seed 2, USE/WordLlama seeds 0 and 1), and the
    # score tells a found map from a missed one (0.234-0.279 against 0.150-0.217 on those pairs). The screen cannot
    # be made to rank starts reliably by itself: measured on USE/WordLlama's first stage, the score difference of two
    # candidates varies by 0.006 (std) from one sample to another (0.0044 with one sample for both), while the top
    # candidates differ by 0.0003-0.001. Each restart costs one fit.
    restarts: int = 1
    # Transport refinement on one plan between all training vectors a side, once, on each pair's final map (None:
    # off). Why: the refinement's fixed point depends on how dense its transport plans are (DenseTransportConfig).
    # Measured (bench.fixed_point, MiniLM/WordLlama, from the map the fit's own steps settle at, top-1 0.735 /
    # 0.829): 8 steps on all 25,000 a side reach 0.757 / 0.847 in 112 s on a shared machine, where 20 batches of
    # 12,000 (the previous polish) reached 0.752 / 0.843 in 298 s. From the same start, epsilon 0.01 reached 0.747 /
    # 0.839 and 0.04 0.738 / 0.831; on USE/WordLlama (0.768 / 0.850) 8 steps reached 0.798 / 0.872, still rising by
    # about 0.001 a step.
    polish: DenseTransportConfig | None = field(default_factory=DenseTransportConfig)

    progress: bool = True  # tqdm bars: each pair fit stage by stage, the tree routes, the polish

    def __post_init__(self) -> None:
        if not self.screen:
            raise ValueError("screen needs at least one stage (its last stage picks the map that is refined fully)")
        if self.restarts < 1:
            raise ValueError(f"restarts must be >= 1 (1: one fit per pair), got {self.restarts}")


def distinct(maps: list[np.ndarray], limit: int, tol: float = 1e-2) -> list[np.ndarray]:
    """The first `limit` maps that differ from every earlier one (many starts converge to one solution)."""
    kept: list[np.ndarray] = []
    for w in maps:
        if all(np.abs(w - k).max() > tol for k in kept):
            kept.append(w)
        if len(kept) == limit:
            break
    return kept


def starts(a: Side, b: Side, cfg: LinearUnsupervisedConfig, rng: np.random.Generator) -> list[np.ndarray]:
    """Every candidate starting map a -> b, from both searches in both directions."""
    out = []
    for x, y, flip in ((a, b, False), (b, a, True)):
        found = distinct(moment_candidates(x, y, cfg.init, rng)[0], cfg.candidates)
        if cfg.icp is not None:
            found += icp_candidates(x, y, cfg.icp, rng)
        out += [w.T if flip else w for w in found]
    return out


def screen(
    xa: np.ndarray, xb: np.ndarray, maps: list[np.ndarray], cfg: LinearUnsupervisedConfig, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[list[float]]]:
    """Successive halving over candidate maps: the finalists (the last stage's `keep`, refined through every stage)
    and each stage's scores."""
    history = []
    for stage in cfg.screen:
        scoring = dataclasses.replace(cfg.selection, sample=stage.sample)
        maps = [refine(xa, xb, w, stage.refine, rng) for w in maps]
        scores = [label_free_score(xa, xb, w, scoring, rng) for w in maps]
        order = np.argsort(scores, kind="stable")[::-1][: stage.keep]
        history.append(sorted(scores, reverse=True))
        maps = [maps[i] for i in order]
    return maps, history


def converge(
    xa: np.ndarray,
    xb: np.ndarray,
    w: np.ndarray,
    sample: tuple[np.ndarray, np.ndarray],
    cfg: LinearUnsupervisedConfig,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[float]]:
    """Further transport blocks from `w` while they raise the label-free score on `sample` (source, target points).

    Each block continues from the last one; the map returned is the best-scoring one. Returns it and the score
    before every block and after each one.
    """
    conv, k = cfg.converge, cfg.selection.k
    block = dataclasses.replace(cfg.refine, transport_schedule=conv.block)
    scores = [translated_mixing(*sample, w, k)]
    best, current = [scores[0]], w  # best[i]: the best score after i blocks
    for _ in range(conv.max_blocks):
        current = wasserstein_procrustes(xa, xb, current, block, rng)
        scores.append(translated_mixing(*sample, current, k))
        if scores[-1] > best[-1]:
            w = current
        best.append(max(best[-1], scores[-1]))
        if len(best) > conv.window and best[-1] - best[-1 - conv.window] <= conv.tolerance:
            break
    return w, scores


def align_pair(
    a: Side, b: Side, cfg: LinearUnsupervisedConfig, rng: np.random.Generator, desc: str = "linear"
) -> tuple[np.ndarray, dict]:
    """Unsupervised orthogonal map (d_a, d_b) between two framed, unpaired sets, and what the fit measured."""
    xa, xb = a.x, b.x
    bar = tqdm(total=4, desc=f"{desc}: starts", unit="stage", disable=not cfg.progress, leave=False)
    t0 = time.perf_counter()
    candidates = starts(a, b, cfg, rng)
    t_init = time.perf_counter() - t0
    bar.set_description_str(f"{desc}: screen of {len(candidates)} starts")
    bar.update()
    finalists, history = screen(xa, xb, candidates, cfg, rng)
    t_screen = time.perf_counter() - t0 - t_init
    bar.set_description_str(f"{desc}: refine {len(finalists)} finalists")
    bar.update()
    refined = [refine(xa, xb, w, cfg.refine, rng) for w in finalists]
    sample = score_sample(xa, xb, cfg.selection, rng)  # one sample for every finalist: the choice sees the maps
    final_scores = [translated_mixing(*sample, w, cfg.selection.k) for w in refined]
    bar.set_description_str(f"{desc}: converge")
    bar.update()
    w, converge_scores = converge(xa, xb, refined[int(np.argmax(final_scores))], sample, cfg, rng)
    bar.update()
    bar.close()
    info = {
        "init_s": t_init,
        "screen_s": t_screen,
        "refine_s": time.perf_counter() - t0 - t_init - t_screen,
        "candidates": len(candidates),
        "screen_scores": history,
        "final_scores": final_scores,
        "converge_scores": converge_scores,
        "label_free": label_free_score(xa, xb, w, cfg.selection, rng),  # fresh: `sample` chose w, so reads high
    }
    return w, info


def fit_pair(
    a: Side, b: Side, cfg: LinearUnsupervisedConfig, rng: np.random.Generator, desc: str = "linear"
) -> tuple[np.ndarray, dict]:
    """`align_pair` `cfg.restarts` times; the map with the highest label-free score on one common sample.

    The first restart is the single fit itself (same stream), so more restarts can only add candidates.
    """
    n = cfg.restarts
    fits = [align_pair(a, b, cfg, rng, desc if n == 1 else f"{desc} ({i + 1}/{n})") for i in range(n)]
    if len(fits) == 1:
        return fits[0]
    sample = score_sample(a.x, b.x, cfg.selection, rng)
    scores = [translated_mixing(*sample, w, cfg.selection.k) for w, _ in fits]
    best = int(np.argmax(scores))
    w, info = fits[best]
    restarts = [{"label_free": i["label_free"], "fit_s": i["init_s"] + i["screen_s"] + i["refine_s"]} for _, i in fits]
    return w, info | {"restart": best, "restart_scores": scores, "restarts": restarts}


@register_aligner
class LinearUnsupervised(LinearAligner):
    """Orthogonal maps between centred frames, found without pairs."""

    kind = "linear"
    Config = LinearUnsupervisedConfig

    def _fit(self, spaces: dict[str, np.ndarray], rng: np.random.Generator) -> None:
        framed = self.frames.fit(spaces)
        cfg = self.config
        sides = {e: Side.of(x, cfg.init, rng) for e, x in framed.items()}  # once per encoder, for every pair
        pairs = itertools.combinations(spaces, 2)
        fits = {(a, b): fit_pair(sides[a], sides[b], cfg, rng, f"linear {a}/{b}") for a, b in pairs}
        fits, tree = route_through_tree(framed, fits, cfg, rng)
        bar = tqdm(
            fits.items(), desc="polish", unit="pair", disable=not cfg.progress or cfg.polish is None, leave=False
        )
        fits = {(a, b): polish(framed[a], framed[b], w, info, cfg, rng) for (a, b), (w, info) in bar}
        for (a, b), (w, info) in fits.items():
            self.set_orthogonal(a, b, w)
            self.fit_info[f"{a}->{b}"] = info
        self.fit_info["tree"] = tree
        self.fit_info["label_free"] = {
            f"{s}->{d}": info["label_free"] for (a, b), (_, info) in fits.items() for s, d in ((a, b), (b, a))
        }


def polish(
    xa: np.ndarray, xb: np.ndarray, w: np.ndarray, info: dict, cfg: LinearUnsupervisedConfig, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """The `cfg.polish` transport refinement of a pair's final map, and its label-free score rescored."""
    if cfg.polish is None:
        return w, info
    start = time.perf_counter()
    w = dense_transport(xa, xb, w, cfg.polish, rng)
    score = label_free_score(xa, xb, w, cfg.selection, rng)
    return w, info | {"polish_s": time.perf_counter() - start, "unpolished_label_free": info["label_free"],
                      "label_free": score}  # fmt: skip


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
    off_tree = [(pair, fit) for pair, fit in fits.items() if not tree.has_edge(*pair)]
    for (a, b), (w, info) in tqdm(
        off_tree, desc="tree routes", unit="pair", disable=not (cfg.progress and off_tree), leave=False
    ):
        path = nx.shortest_path(tree, a, b)
        start = functools.reduce(np.matmul, [step(s, d) for s, d in itertools.pairwise(path)])
        routed = refine(framed[a], framed[b], start, cfg.refine, rng)
        sample = score_sample(framed[a], framed[b], cfg.selection, rng)
        routed, _ = converge(framed[a], framed[b], routed, sample, cfg, rng)
        score = label_free_score(framed[a], framed[b], routed, cfg.selection, rng)
        info = info | {"direct_label_free": info["label_free"], "path": path, "path_label_free": score}
        if score > info["label_free"]:
            w, info["label_free"] = routed, score
        out[(a, b)] = (w, info)
    return out, sorted(sorted(e) for e in tree.edges)
