"""Every translation method and baseline by name: what `vec2vec train --method` and the benchmarks choose from."""

from __future__ import annotations

from vec2vec.universal.aligner import Aligner
from vec2vec.universal.baselines import Identity, OracleProcrustes, OracleRidge, RandomOrthogonal
from vec2vec.universal.minivec2vec import MiniVec2Vec
from vec2vec.universal.universal import UniversalAligner
from vec2vec.universal.unsupervised import LinearUnsupervised

METHODS: dict[str, type[Aligner]] = {
    cls.kind: cls
    for cls in (
        Identity,
        RandomOrthogonal,
        OracleProcrustes,
        OracleRidge,
        LinearUnsupervised,
        MiniVec2Vec,
        UniversalAligner,
    )
}
