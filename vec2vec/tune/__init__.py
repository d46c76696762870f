"""Distributed training (Ray Train), search (Ray Tune) and MLflow tracking of the universal latent.

`distributed` (K data-parallel workers on Ray Train), `search` (Ray Tune + ASHA on the label-free score),
`loop` (the step/report/checkpoint loop both share), `tracking` (the MLflow store and a run's record),
`pyfunc_model` (a saved translator as an MLflow pyfunc), `demo` (the demo's [scale] part).
"""
