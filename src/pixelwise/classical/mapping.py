"""From region or cluster ids to classes: a majority vote, or the Hungarian oracle."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def joint_counts(ids: np.ndarray, labels: np.ndarray, num_ids: int, num_classes: int) -> np.ndarray:
    """``(num_ids, num_classes)`` int64 counts of (id, class) pairs, by one joint bincount.

    ``ids`` and ``labels`` are integer arrays of one shape; ids lie in ``[0, num_ids)``,
    labels in ``[0, num_classes)`` (ignored pixels must be removed beforehand).
    """
    joint = ids.reshape(-1).astype(np.int64) * num_classes + labels.reshape(-1)
    counts = np.bincount(joint, minlength=num_ids * num_classes)
    return counts.reshape(num_ids, num_classes)


VOTES = ("balanced", "pixels")
"""How pixels vote for an id's class: ``pixels`` one vote each (the id's most frequent
class); ``balanced`` each class's votes scaled by 1 / its pixel count, so that an id
goes to the class whose pixels fall into it most often (as a fraction of that class)."""


def majority_mapping(counts: np.ndarray, vote: str = "pixels") -> np.ndarray:
    """``(num_ids,)`` int64: each id's majority class in ``counts (num_ids, num_classes)``.

    ``vote`` is one of :data:`VOTES`. Ties go to the lower class index. An id that was
    never seen takes the most frequent class overall.
    """
    weights = counts.astype(np.float64)
    if vote == "balanced":
        weights /= np.maximum(counts.sum(axis=0), 1)
    mapping = weights.argmax(axis=1)
    unseen = counts.sum(axis=1) == 0
    mapping[unseen] = counts.sum(axis=0).argmax()
    return mapping.astype(np.int64)


def hungarian_mapping(counts: np.ndarray) -> np.ndarray:
    """``(num_ids,)`` int64: the one-to-one id -> class matching with the most agreeing pixels.

    ``scipy.optimize.linear_sum_assignment`` on ``counts (num_ids, num_classes)``. With
    more ids than classes the unmatched ids keep their majority class; with fewer, some
    classes are never predicted. Computed on the data being scored, this is an oracle:
    an upper bound for any fixed mapping, not a fair score.
    """
    mapping = majority_mapping(counts)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping[rows] = cols
    return mapping
