"""Distributed training (Ray Train), search (Ray Tune) and MLflow tracking of the universal latent.

Not built yet: tracked in issue 4.
"""
