"""A saved vec2vec translator as an MLflow pyfunc model, logged as code (MLflow's models-from-code).

MLflow runs this file when the model is loaded, so nothing is unpickled: the weights come from the logged
translator directory (aligner.json + weights.safetensors) through `load_aligner`.

Input: a DataFrame with columns `src`, `dst` (encoder names) and `vector` (one raw `src` embedding per row);
output: a DataFrame with one column `vector`, the row translated into `dst`'s space (L2-normalised).
"""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from vec2vec.universal.aligner import AlignerError, load_aligner


class TranslatorModel(PythonModel):
    def load_context(self, context: Any) -> None:
        self.aligner = load_aligner(context.artifacts["translator"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        frame = model_input
        missing = sorted({"src", "dst", "vector"} - set(frame.columns))
        if missing:
            raise AlignerError(f"translator input lacks column(s) {missing}; fix: pass columns src, dst, vector")
        out: list[Any] = [None] * len(frame)
        for (src, dst), rows in frame.groupby(["src", "dst"]).indices.items():
            x = np.stack([np.asarray(v, dtype=np.float32) for v in frame["vector"].iloc[rows]])
            for i, y in zip(rows, self.aligner.transform(x, str(src), str(dst)), strict=True):
                out[i] = y.tolist()
        return pd.DataFrame({"vector": out})


mlflow.models.set_model(TranslatorModel())
