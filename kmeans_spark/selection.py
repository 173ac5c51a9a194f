"""Choosing k from a sweep: the knee of the SSE curve, checked against two other rules.

Pure numpy (plus the ``kneed`` library), no Spark: the sweep computes the curves, this module
only reads them.

The elbow alone is not trusted. Kneedle (Satopaa et al., *Finding a "Kneedle" in a
Haystack*, ICDCS workshops 2011) finds the point of maximum curvature of any convex
decreasing curve, so it names a "knee" on pure noise, where no k is right; and it works on
the curve normalised to the k range it is given, so the knee moves when the range does
(``k = 2..15`` and ``k = 2..40`` can disagree on the same data). Two rules with other
failure modes are therefore reported beside it: the k of the best Calinski-Harabasz score
(between- over within-cluster dispersion; on uniform noise it keeps rising with k) and the k
of the best silhouette. When the three land within one of each other the data have a clear
k; otherwise the verdict is ``no clear k``, and the plots have to be looked at. Agreement is
evidence, not proof: 600 uniform points on a square split best into its four quadrants by
all three rules (``tests/unit/test_selection.py`` records it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from kmeans_spark.errors import KMeansInputError

#: The verdict when the rules disagree by more than one (or no knee was found).
NO_CLEAR_K = "no clear k"


@dataclass(frozen=True)
class KChoice:
    """What :func:`choose_k` found on a sweep.

    ``knee``, ``best_calinski_harabasz`` and ``best_silhouette`` are ``None`` when the rule
    had nothing to say (no knee on the curve, no scores given, or all scores NaN). ``k`` is
    the chosen k, ``None`` exactly when ``verdict`` is :data:`NO_CLEAR_K`.
    """

    ks: tuple[int, ...]
    knee: int | None
    best_calinski_harabasz: int | None
    best_silhouette: int | None
    k: int | None
    #: ``"k = 3"`` when the rules agree within one, else :data:`NO_CLEAR_K`.
    verdict: str
    #: One line a person reads: what each rule found and why the verdict follows.
    explanation: str

    @property
    def clear(self) -> bool:
        return self.k is not None


def choose_k(
    ks: Sequence[int],
    sse: ArrayLike,
    calinski_harabasz: ArrayLike | None = None,
    silhouette: ArrayLike | None = None,
    *,
    S: float = 1.0,
    interp_method: Literal["interp1d", "polynomial"] = "interp1d",
    online: bool = False,
) -> KChoice:
    """Choose k from the curves of a sweep: the knee of the SSE, the best CH, the best silhouette.

    Parameters
    ----------
    ks : sequence of int
        The k of each fit, strictly increasing (gaps allowed).
    sse : sequence of float
        The SSE (within-cluster sum of squared distances) of each fit, finite.
    calinski_harabasz, silhouette : sequence of float, optional
        The scores of each fit, higher is better; NaN where a score is undefined.
    S : float, default 1.0
        Kneedle's sensitivity: how many (normalised) steps of k the difference curve must
        fall below its local maximum before that maximum is called a knee. Larger is more
        conservative (fewer, later knees); the paper's default is 1. Passed to
        :class:`kneed.KneeLocator` as ``S``.
    interp_method : {"interp1d", "polynomial"}, default "interp1d"
        ``"interp1d"`` uses the SSE as given; ``"polynomial"`` first smooths it with a
        degree-7 polynomial fit (for noisy curves; it can move the knee off a sharp corner).
    online : bool, default False
        ``False`` returns the first knee found walking up k (the paper's offline mode);
        ``True`` walks the whole curve and keeps the last knee confirmed, which favours a
        later knee when the curve has several.

    Returns
    -------
    KChoice
        The three rules' k, the chosen k and the verdict with a one-line explanation.

    Notes
    -----
    The curve is taken as convex and decreasing (``curve="convex", direction="decreasing"``),
    the shape of SSE against k. The verdict: when every rule that has an answer lies within
    one of the others (and a knee was found), the chosen k is the one most rules name, the
    knee's on a tie; otherwise :data:`NO_CLEAR_K`. A knee needs at least three values of k.
    """
    ks_arr = np.asarray(ks)
    if ks_arr.ndim != 1 or ks_arr.size == 0 or not np.issubdtype(ks_arr.dtype, np.integer):
        raise KMeansInputError(f"ks={list(ks)!r} should be a non-empty sequence of integers.")
    if np.any(np.diff(ks_arr) <= 0) or ks_arr[0] < 1:
        raise KMeansInputError(f"ks={ks_arr.tolist()} should be strictly increasing integers >= 1.")
    sse_arr = _curve("sse", sse, ks_arr.size)
    if not np.all(np.isfinite(sse_arr)):
        raise KMeansInputError(f"sse={sse_arr.tolist()} should hold only finite values.")
    ch_arr = (
        None
        if calinski_harabasz is None
        else _curve("calinski_harabasz", calinski_harabasz, ks_arr.size)
    )
    sil_arr = None if silhouette is None else _curve("silhouette", silhouette, ks_arr.size)

    k_list = [int(k) for k in ks_arr]
    knee = _knee(k_list, sse_arr, S=S, interp_method=interp_method, online=online)
    best_ch = _argmax_k(k_list, ch_arr)
    best_sil = _argmax_k(k_list, sil_arr)

    found = {
        "knee of the SSE": knee,
        "best Calinski-Harabasz": best_ch,
        "best silhouette": best_sil,
    }
    facts = ", ".join(f"{name} at k={k}" for name, k in found.items() if k is not None)
    named = [k for k in found.values() if k is not None]
    if knee is None:
        reason = (
            f"a knee needs at least 3 values of k, got {len(k_list)}"
            if len(k_list) < 3
            else "no knee on the SSE curve"
        )
        explanation = f"{reason}{'; ' + facts if facts else ''}: no clear k."
        return KChoice(tuple(k_list), None, best_ch, best_sil, None, NO_CLEAR_K, explanation)
    spread = max(named) - min(named)
    if spread > 1:
        explanation = f"{facts}: they differ by {spread} (more than one), no clear k."
        return KChoice(tuple(k_list), knee, best_ch, best_sil, None, NO_CLEAR_K, explanation)
    # Within one of each other: at most two distinct values, so a majority or a tie.
    votes = {k: named.count(k) for k in named}
    chosen = max(votes, key=lambda k: (votes[k], k == knee))
    if len(named) == 1:
        explanation = f"{facts} (no scores to check it against): k={chosen}."
    elif spread == 0:
        explanation = f"{facts}: they agree, k={chosen}."
    else:
        explanation = f"{facts}: within one of each other, k={chosen}, the k most of them name."
        if votes[chosen] * 2 == len(named):
            explanation = f"{facts}: within one of each other, a tie the knee decides: k={chosen}."
    return KChoice(tuple(k_list), knee, best_ch, best_sil, chosen, f"k = {chosen}", explanation)


def _curve(name: str, values: ArrayLike, size: int) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (size,):
        raise KMeansInputError(
            f"{name} has shape {arr.shape}; it should have one value per k ({size},)."
        )
    return arr


def _knee(
    ks: list[int], sse: np.ndarray, *, S: float, interp_method: str, online: bool
) -> int | None:
    """Kneedle on a convex decreasing curve; ``None`` if it finds no knee (or cannot look)."""
    if len(ks) < 3 or np.ptp(sse) == 0.0:
        return None  # kneed divides by the range of the curve; a flat one has no knee
    from kneed import KneeLocator  # imports pyplot: only when a knee is asked for

    locator = KneeLocator(
        ks,
        sse,
        S=S,
        curve="convex",
        direction="decreasing",
        interp_method=interp_method,
        online=online,
    )
    return None if locator.knee is None else int(locator.knee)


def _argmax_k(ks: list[int], scores: np.ndarray | None) -> int | None:
    if scores is None or not np.any(np.isfinite(scores)):
        return None
    return ks[int(np.nanargmax(np.where(np.isfinite(scores), scores, np.nan)))]
