"""Translators between encoder spaces, all behind one interface (`aligner.Aligner`: fit / transform / save / load).

Methods: `unsupervised.LinearUnsupervised` (moment-matched start, refinement, label-free choice), the universal
latent `universal.UniversalAligner` (adapters A_i/B_i around a shared backbone T), the published mini-vec2vec
(`minivec2vec`) and the reference baselines (`baselines`); `methods.METHODS` names them all. Training data comes
from the embedding job (`data`: train_a / train_b for fitting, eval for scoring only).
"""
