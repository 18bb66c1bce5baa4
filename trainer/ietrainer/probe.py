"""Linear-probe accuracy of frozen features: logistic regression (scikit-learn).

Usage: python -m ietrainer.probe --input SPEC.json
SPEC: {"labels": [int, ...], "test": [bool, ...], "features": [{"name": str, "path": str}, ...]}
Each feature file is row-major float32 [len(labels), dim]. For each, the regularisation strength C
is chosen on a stratified held-out part of the training rows (best accuracy, then lowest log
loss), the model is refitted on all training
rows, and accuracy is reported on the test rows. One JSON object on stdout:
{"results": {name: {"accuracy", "C", "validationAccuracy", "dim", "train", "test"}}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from . import handover
from .errors import EXIT_USAGE, UsageError
from .lifetime import die_with_parent

C_GRID = tuple(float(c) for c in np.logspace(-4, 2, 7))
VALIDATION_FRACTION = 0.25
MAX_ITER = 2000
DEFAULT_C = 1.0


def _model(c: float) -> Any:
    # Standardised features make one C grid fit encoders of any scale and width.
    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=MAX_ITER))


def _validation_split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Stratified (fit, validation) rows of the training split; None if a class has < 2 rows."""
    counts = np.unique(labels, return_counts=True)[1]
    n_val = max(len(counts), round(len(labels) * VALIDATION_FRACTION))
    if counts.min() < 2 or n_val > len(labels) - len(counts):
        return None
    splitter = StratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=seed)
    fit, val = next(splitter.split(np.zeros(len(labels)), labels))
    return fit, val


def probe(
    features: np.ndarray, labels: np.ndarray, test: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Fit on the rows where ``test`` is False, report accuracy on the rows where it is True."""
    x_train, y_train = features[~test], labels[~test]
    x_test, y_test = features[test], labels[test]
    if len(x_test) == 0:
        raise UsageError("the test split is empty")
    if len(np.unique(y_train)) < 2:
        raise UsageError("a linear probe needs at least two classes in the training split")
    split = _validation_split(y_train, seed)
    best_c, best_acc, best_loss = DEFAULT_C, None, np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if split is not None:
            fit, val = split
            for c in C_GRID:
                model = _model(c).fit(x_train[fit], y_train[fit])
                acc = float(model.score(x_train[val], y_train[val]))
                # Accuracy ties are common on small targets; the held-out log loss breaks them
                # (a C so small that every class is equally likely would otherwise tie at the top).
                loss = log_loss(
                    y_train[val], model.predict_proba(x_train[val]), labels=model.classes_
                )
                if best_acc is None or acc > best_acc or (acc == best_acc and loss < best_loss):
                    best_c, best_acc, best_loss = c, acc, loss
        final = _model(best_c).fit(x_train, y_train)
        accuracy = float(final.score(x_test, y_test))
    return {
        "accuracy": accuracy,
        "C": best_c,
        # None when some class had too few training rows to hold any out (C fell back to 1).
        "validationAccuracy": best_acc,
        "dim": int(features.shape[1]),
        "train": len(x_train),
        "test": len(x_test),
    }


def _load_features(path: str, rows: int) -> np.ndarray:
    """One row per label, checked against its header (a torn or foreign file is refused)."""
    if rows == 0:
        raise UsageError("no labels to probe")
    features = handover.read_f32(path, rows=rows).astype(np.float64)
    if not np.isfinite(features).all():
        raise UsageError(f"{path} contains NaN or infinite values")
    return features


def run(spec: dict[str, Any]) -> dict[str, Any]:
    labels = np.asarray(spec.get("labels", []), dtype=np.int64)
    test = np.asarray(spec.get("test", []), dtype=bool)
    if len(labels) != len(test):
        raise UsageError(f"{len(labels)} labels but {len(test)} test flags")
    results = {}
    for entry in spec.get("features", []):
        features = _load_features(entry["path"], len(labels))
        results[entry["name"]] = probe(features, labels, test, int(spec.get("seed", 0)))
    return {"results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ietrainer.probe", description=__doc__)
    parser.add_argument("--input", required=True, help="JSON spec (see above)")
    args = parser.parse_args(argv)
    die_with_parent()
    try:
        with open(args.input, encoding="utf-8") as fh:
            spec = json.load(fh)
        out = run(spec)
    except (UsageError, OSError, ValueError, KeyError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
