"""The universal latent (adapters A_i/B_i around a shared backbone) and the linear aligners.

Not built yet: tracked in issue 3. Embeddings for it come from `vec2vec.pipelines` (train_a / train_b / eval).
"""
