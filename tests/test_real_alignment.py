"""The unsupervised linear translator on small real embeddings: two bundled encoders of different families and
widths (MiniLM 384-d, USE 512-d) on WordNet glosses, each encoder trained on its own texts, scored on held-out
pairs.

At this size the map is only partly found (25,000 a side reach 0.95 x the supervised ceiling on this pair in the
benchmark), so the test asks for what small data gives: far better than a random map, and a label-free score that
tells the two apart without pairs. It runs a shortened search (moment starts only, one screen stage, shorter
refinement, no converge loop). Measured: the default search took 569 s here (FOSCTTM 0.225, top-5 0.09-0.10 of
500); this one takes 63-70 s (seeds 0 and 1: FOSCTTM 0.25-0.26, top-5 0.09-0.11, label-free 0.247 against 0.0 for a
random map). A random map scores FOSCTTM 0.499. The default's quality is measured by bench.quality.
"""

import numpy as np
import pytest

from vec2vec.corpora.registry import get_corpus
from vec2vec.encoders.registry import get_encoder
from vec2vec.universal.baselines import RandomOrthogonal
from vec2vec.universal.metrics import retrieval_metrics
from vec2vec.universal.refine import RefineConfig
from vec2vec.universal.selection import SelectionConfig, label_free_score
from vec2vec.universal.unsupervised import ConvergeConfig, LinearUnsupervised, LinearUnsupervisedConfig, ScreenStage

N_TRAIN = 3000  # texts per encoder, disjoint
N_EVAL = 500  # paired held-out texts
SHORT = LinearUnsupervisedConfig(
    icp=None,
    candidates=2,
    screen=(ScreenStage(RefineConfig(schedule=((50, 8),), batch=500, targets=3000), sample=1500, keep=2),),
    refine=RefineConfig(schedule=((50, 20), (20, 15), (5, 15)), transport_schedule=((0.5, 15), (0.9, 15))),
    converge=ConvergeConfig(max_blocks=0),
)


@pytest.fixture(scope="module")
def glosses() -> dict[str, np.ndarray]:
    texts = [r.text for r in get_corpus("wordnet").records()]
    pick = np.random.default_rng(0).choice(len(texts), 2 * N_TRAIN + N_EVAL, replace=False)
    chosen = [texts[i] for i in pick]
    train_a, train_b, held = chosen[:N_TRAIN], chosen[N_TRAIN : 2 * N_TRAIN], chosen[2 * N_TRAIN :]
    minilm, use = get_encoder("minilm"), get_encoder("use")
    return {
        "minilm": minilm.encode(train_a),
        "use": use.encode(train_b),
        "eval_minilm": minilm.encode(held),
        "eval_use": use.encode(held),
    }


@pytest.mark.timeout(600)  # about 2 min on two idle cores (embedding 7,000 texts, then the fit)
def test_unsupervised_map_beats_random_on_real_embeddings(glosses):
    spaces = {"minilm": glosses["minilm"], "use": glosses["use"]}
    fitted = LinearUnsupervised(SHORT).fit(spaces, np.random.default_rng(0))
    random = RandomOrthogonal().fit(spaces, np.random.default_rng(0))
    scores = {}
    for name, aligner in (("linear", fitted), ("random", random)):
        for src, dst in (("minilm", "use"), ("use", "minilm")):
            m = retrieval_metrics(aligner.transform(glosses[f"eval_{src}"], src, dst), glosses[f"eval_{dst}"])
            assert m.candidates == N_EVAL
            scores[name, src] = m
    for src in ("minilm", "use"):
        good, chance = scores["linear", src], scores["random", src]
        assert chance.foscttm > 0.4  # a random map ranks the true partner mid-list
        assert good.foscttm < 0.3, good  # the fitted one puts it in the top 30 % on average...
        assert good.top5 > 4 * 5 / N_EVAL, good  # ...and in the top 5 at least four times as often as chance
    # the label-free score (no pairs) rates the fitted map far above the random one
    framed = {e: fitted.frames.to_frame(x, e) for e, x in spaces.items()}
    chance = label_free_score(
        framed["minilm"], framed["use"], random.maps[("minilm", "use")], SelectionConfig(), np.random.default_rng(1)
    )
    assert fitted.fit_info["label_free"]["minilm->use"] > chance + 0.1, (fitted.fit_info["label_free"], chance)
