"""The claims table: every claim of the paper, the paper's number, ours with its interval, a verdict.

:func:`claims_table` runs every claim of the registry (:data:`mdlm_study.reporting.claims.CLAIMS`) on
the notebooks' records (:class:`~mdlm_study.reporting.study.Study`: each notebook's typed headline as a
dict, :mod:`mdlm_study.reporting.headlines`, and its CSV tables) and gives one row per claim, with
its verdict in one plain sentence (:func:`takeaway`); a claim whose inputs are not recorded is
*missing*. Notebook 07's table, each notebook's conclusion cell (:mod:`mdlm_study.reporting.conclusions`)
and ``docs/results.md`` are all this table, so they cannot disagree.
"""

from __future__ import annotations

import pandas as pd

from mdlm_study.core import verdicts as v
from mdlm_study.reporting.claims import CLAIMS, MODEL_CHECK, OWN_TARGET, PAPER_CLAIM
from mdlm_study.reporting.study import Study

COLUMNS = ("notebook", "kind", "claim", "paper", "evidence", "ours", "test", "verdict", "takeaway", "reason", "seeds", "run", "deep_regime", "deep_ours")


PLAIN = {
    v.REPRODUCED: "we see what the paper reports",
    v.LARGER: "we see the paper's direction, and more of it than the paper reports",
    v.SMALLER: "we see the paper's direction, but less of it than the paper reports",
    v.OPPOSITE: "we see the opposite of what the paper reports",
    v.NOT_DETECTED: "we see no such effect, although an effect of the paper's size would have shown",
    v.INCONCLUSIVE: "our measurement cannot tell",
    v.MISSING: "not measured",
}
PLAIN_OWN = {v.REPRODUCED: "met", v.SMALLER: "missed: the speed-up falls short", v.OPPOSITE: "missed: it loses accuracy",
             v.INCONCLUSIVE: "not shown: the accuracy or the speed-up falls short on some setting rule", v.MISSING: "not measured"}
PLAIN_CHECK = {v.REPRODUCED: "it holds", v.OPPOSITE: "it fails", v.INCONCLUSIVE: "our measurement cannot tell", v.MISSING: "not measured"}


def takeaway(claim: str, kind: str, word: str, evidence: str, decided_by: str = "") -> str:
    """The claim's verdict as one plain sentence, for a reader who skips the statistics; ``decided_by``
    names the part of a combined verdict that gave its word (MED: "the speed-up")."""
    which = f" (for {decided_by}; the other parts do better)" if decided_by else ""
    if kind == OWN_TARGET:
        return f"Our own target, {claim}: {PLAIN_OWN.get(word, word)}{which}, on {evidence}."
    if kind == MODEL_CHECK:
        return f"A check of our model, {claim}: {PLAIN_CHECK.get(word, word)}{which}, on {evidence}."
    return f"{claim}: {PLAIN[word]}{which}, on {evidence}."


def claims_table(study: Study | dict, notebook: str | None = None) -> pd.DataFrame:
    """One row per claim (of one notebook, when ``notebook`` is given, e.g. "03"): the columns of
    :data:`COLUMNS`. ``study`` may be a bare dict of summaries (claims that need a CSV are then missing)."""
    if not isinstance(study, Study):
        study = Study(study)
    rows = []
    for nb, text, number, kind, judge in CLAIMS:
        if notebook is not None and nb != notebook:
            continue
        row = {"notebook": nb, "kind": kind, "claim": text, "paper": number}
        try:
            out = judge(study)
        except (LookupError, ValueError) as missing:  # not written, or written empty (e.g. no failed problem to sample)
            row.update(evidence="", ours="not measured", test="", verdict=v.MISSING, reason=f"not recorded: {missing}", seeds="", run="",
                       deep_regime="", deep_ours="")
            decided_by = ""
        else:
            verdict = out.pop("verdict")
            row.update(evidence=out.get("evidence", "this notebook's run"), ours=out["ours"], test=out["test"], verdict=verdict.word,
                       reason=verdict.reason, seeds=out.get("seeds", "1 seed"), run=out.get("run", ""),
                       deep_regime=out.get("deep_regime", ""), deep_ours=out.get("deep_ours", ""))
            decided_by = verdict.decided_by
        row["takeaway"] = takeaway(text, kind, row["verdict"], row["evidence"] or "no records", decided_by)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def verdict_counts(table: pd.DataFrame) -> dict:
    """How many of the paper's claims got each verdict word (every word of :data:`verdicts.VERDICTS`,
    zeros included); our own targets and the checks of our model are not counted."""
    claims = table[table["kind"] == PAPER_CLAIM]
    return {"n_claims": len(claims), **{f"n_{word.replace(' ', '_')}": int((claims["verdict"] == word).sum()) for word in v.VERDICTS}}
