"""Each notebook's conclusion, the generated docs and the README, on the committed records."""

import json
import re
import subprocess

import pytest

import mdlm_study
from mdlm_study.core.records import ROOT
from mdlm_study.reporting import conclusions, results_doc
from mdlm_study.reporting.study import load_study
from mdlm_study.reporting.summary import claims_table

NOTEBOOK_CLAIMS = {"01": 1, "02": 4, "03": 6, "04": 3, "05": 5, "06": 2}


@pytest.mark.parametrize(("notebook", "n_claims"), NOTEBOOK_CLAIMS.items())
def test_render_states_every_claim_of_the_notebook_from_the_committed_records(notebook, n_claims):
    text = conclusions.render(notebook, ROOT)
    table = claims_table(load_study(ROOT, conclusions.default_seed_records(ROOT)), notebook=notebook)
    assert len(table) == n_claims and text.count("\n**") == n_claims
    for row in table.itertuples():
        assert f"**{row.takeaway}**" in text and f"Verdict of record: **{row.verdict}** ({row.kind}; {row.evidence})" in text
        assert row.ours in text and row.paper in text and row.claim in row.takeaway
        assert row.verdict != "missing", row.reason
    assert text.startswith("## Conclusion") and "docs/verdicts.md" in text


def test_render_07_is_the_whole_claims_table_with_its_tally():
    text = conclusions.render("07", ROOT)
    table = claims_table(load_study(ROOT, conclusions.default_seed_records(ROOT)))
    assert text.count("\n| ") == len(table) + 1  # header + one row per claim (the separator starts with |-)
    tally = re.search(r"(\d+) claims of the paper: (.*) \(our own", text)
    assert len(table) == sum(NOTEBOOK_CLAIMS.values()) and int(tally.group(1)) == (table["kind"] == "the paper's claim").sum() == len(table) - 2
    assert sum(int(n) for n in re.findall(r"(\d+) [a-z]", tally.group(2))) == len(table) - 2
    assert all(row.takeaway in text for row in table.itertuples())  # a plain sentence per claim above the table


def test_notebook_03_states_the_blocks_effect_and_its_seed_count():
    """The blocks claim: on the five seeds pooled with the seed as the unit, k = 2's loss is smaller than the
    paper's and k = 4's not shown; seed 0's 300-problem run is shown as that run."""
    text = conclusions.render("03", ROOT)
    block = text.split("**Fixed k = 2 / 4 lose accuracy (Table B): answer slot, blocks of 8")[1].split("\n**")[0]
    assert "Verdict of record: **not detected**" in block and "K = 2: smaller" in block and "k = 4: not detected" in block
    assert "This notebook's run (shown, not a second verdict): k = 2 / 4: -5.7 / -8.7 points" in block
    assert re.search(r"holds on [0-5] of 5 seeds", block) and "seed 4: " in block


def test_render_rejects_unknown_notebooks_and_tolerates_a_run_without_tables(tmp_path):
    with pytest.raises(ValueError, match="notebook_id must be one of"):
        conclusions.render("08", ROOT)
    text = conclusions.render("04", tmp_path)
    assert "not in this notebook's records" in text and "Verdict of record: **missing**" not in text  # the seeds decide
    assert conclusions.default_seed_records(tmp_path) == {label: ROOT / path for label, path in conclusions.SEED_RECORDS.items()
                                                           if (ROOT / path).exists()}
    assert {label.rsplit(" ", 1)[0] for label in conclusions.default_seed_records(tmp_path)} >= {"seed", "sudoku seed", "traces seed"}


def test_seed_records_are_not_attached_to_another_model(tmp_path):
    folder = tmp_path / "figures" / "tables"
    folder.mkdir(parents=True)
    (folder / "03_parallel_decoding.json").write_text('{"summary": {}, "params": {"model": "GSAI-ML/LLaDA-8B-Instruct"}}')
    assert conclusions.default_seed_records(tmp_path) == {}
    assert conclusions.seeds_forest(tmp_path) is None  # nor the seeds' forest plot


def test_notebook_07_draws_the_seeds_forest_from_the_committed_record():
    fig = conclusions.seeds_forest(ROOT)
    ax = fig.axes[0]
    record = json.loads((ROOT / conclusions.SEED_CLAIMS).read_text())
    measured = [c for c in record["claims"] if "pooled" in c]
    assert len(ax.get_yticklabels()) == len(measured) and len(ax.patches) == len(measured)
    assert f"across {len(record['seeds'])} training seeds" in ax.get_title()


def test_generated_docs_and_readme_are_up_to_date():
    """``python -m mdlm_study.reporting.results_doc`` would write exactly what is committed."""
    for path, text in results_doc.outputs().items():
        assert path.read_text() == text, f"{path.relative_to(ROOT)} is stale: run python -m mdlm_study.reporting.results_doc"
    assert results_doc.main(["--check"]) == 0


def test_the_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme) <= 11_000, len(readme)  # a front page: about 10k characters (both regimes' verdicts included)
    for heading in ("## Two commands", "## Results", "## Using the engine", "## Adding a decoding rule", "## Reliability",
                    "## How the paper maps onto the code", "## Layout"):
        assert heading in readme
    for link in re.findall(r"\]\(((?:docs|figures)/[^)#]+)", readme):
        assert (ROOT / link).exists(), link
    for path in re.findall(r"`(mdlm_study/[\w/]+(?:\.py)?)`", readme):
        assert (ROOT / path).exists(), path


def test_the_readme_example_runs(capsys):
    """The README's ``generate`` example, as written: on the released default model."""
    code = re.search(r"## Using the engine\n\n```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    assert len(code.splitlines()) <= 10
    exec(compile(code, "README.md", "exec"), {})
    assert re.fullmatch(r".* \[\d+\]\n", capsys.readouterr().out, re.S)  # the answer, then the forward passes it took


def test_no_reference_points_outside_the_repository():
    """Code, docs and notebook sources cite sections of docs/, never notes or issue numbers kept elsewhere
    (the executed notebooks are outputs: the next full run regenerates them from the sources)."""
    pattern = r"PAPER\.md|PEERS\.md|[Ii]ssue [0-9]+|\bD[0-9]+\b"
    result = subprocess.run(["git", "grep", "-nE", pattern, "--", "*.py", "*.md", "*.yaml", "*.ipynb", ":!notebooks/executed"],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.stdout == "", result.stdout


def test_the_readme_layout_names_every_module():
    """One row per subpackage, in the package's order, naming every module of it."""
    layout = (ROOT / "README.md").read_text().split("## Layout")[1].split("\n## ")[0]
    rows = {row.split("`")[1]: row for row in layout.splitlines() if row.startswith("| `mdlm_study/")}
    order = re.findall(r"^\d+\. ``(\w+)``", mdlm_study.__doc__, re.M)
    assert list(rows) == [f"mdlm_study/{name}/" for name in order]
    missing = [f"{path}{p.name}" for path, row in rows.items() for p in sorted((ROOT / path).glob("*.py"))
               if p.name != "__init__.py" and not re.search(rf"\b{p.stem}\b", row.split(" | ")[1])]
    assert missing == []


def test_show_displays_the_rendered_markdown(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    conclusions.show("04", ROOT)
    assert len(shown) == 1 and shown[0].data == conclusions.render("04", ROOT)


def _table_rows(markdown: str, header_start: str) -> list[list[str]]:
    """The cells of every row of the Markdown table whose header starts with ``header_start``."""
    lines = markdown.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_every_document_gives_each_claim_the_same_verdict_and_numbers():
    """README, docs/results.md, each notebook's conclusion and docs/seeds.md agree: one word per claim, and
    a decoding claim's pooled numbers and word are those of its seed claims in docs/seeds.md."""
    from mdlm_study.core import verdicts

    table = claims_table(load_study(ROOT, conclusions.default_seed_records(ROOT)))
    words = dict(zip(table["claim"], table["verdict"], strict=True))
    def plain(claim: str) -> str:
        return claim.split(" (our own target)")[0].split(" (a check of our model)")[0]

    readme_rows = _table_rows((ROOT / "README.md").read_text(), "| claim (the paper")
    results_rows = _table_rows((ROOT / "docs" / "results.md").read_text(), "| notebook | claim")
    readme = {plain(row[0]): row[3].strip("*") for row in readme_rows}
    results = {row[1]: row[6].strip("*") for row in results_rows}
    assert readme == words and results == words
    # the deep regime's column: the same word in the README, docs/results.md and docs/seeds.md's deep-regime table
    deep = dict(zip(table["claim"], table["deep_regime"], strict=True))
    assert {plain(row[0]): row[4].replace("—", "") for row in readme_rows} == deep
    assert {row[1]: row[7].split(":")[0].strip("*").replace("—", "") for row in results_rows} == deep
    if any(deep.values()):
        deep_md = {row[0]: row[6].strip("*") for row in _table_rows((ROOT / "docs" / "seeds.md").read_text().split("## The deep regime")[1], "| claim | test |")}
        for row in table[table["deep_regime"] != ""].itertuples():
            parts = [word for text, word in deep_md.items() if text.removesuffix(" (deep regime)") in row.seeds]
            assert parts and verdicts.worst(*(verdicts.Verdict(w, "") for w in parts)).word == row.deep_regime, row.claim
    for notebook in NOTEBOOK_CLAIMS:
        text = conclusions.render(notebook, ROOT)
        for row in table[table["notebook"] == notebook].itertuples():
            assert f"**{row.takeaway}**\n\n- Verdict of record: **{words[row.claim]}**" in text
    seeds_text = (ROOT / "docs" / "seeds.md").read_text()
    seeds_md = {row[0]: row for text in (seeds_text, seeds_text.split("## A check of our model")[1])  # the claims, the reasoning check
                for row in _table_rows(text, "| claim | test |")}
    readme_ours = {plain(row[0]): row[2] for row in _table_rows((ROOT / "README.md").read_text(), "| claim (the paper")}
    checked = 0
    traces = {row[0]: row for row in _table_rows((ROOT / "docs" / "seeds.md").read_text(), "| measure | pooled")}
    trace_rows = 0
    finetune = {row[0]: row for row in _table_rows((ROOT / "docs" / "seeds.md").read_text(), "| comparison | pooled")}
    finetune_rows = 0
    for row in table[table["evidence"].str.contains("training seeds")].itertuples():
        if "(Table E)" in row.claim:  # a Table E claim: each comparison it names, pooled as docs/seeds.md's Table E table prints it
            named = [words for words in finetune if f"{words}: " in row.ours]
            assert named and all(f"{words}: {finetune[words][1]} points" in row.ours for words in named), row.claim
            finetune_rows += 1
            continue
        if "holds on" not in row.seeds:  # a trace claim: its pooled interval as docs/seeds.md's trace table prints it
            assert any(t[1].split(" [")[1] in row.ours for t in traces.values()), row.claim
            trace_rows += 1
            continue
        parts = [seed_row for text, seed_row in seeds_md.items() if f"{text}: holds on" in row.seeds]
        assert parts, row.claim
        assert verdicts.worst(*(verdicts.Verdict(p[6].strip("*"), "") for p in parts)).word == row.verdict
        for p in parts:  # the pooled estimate and interval, as docs/seeds.md prints them
            assert f"{p[3]} points" in row.ours and p[3] in readme_ours[row.claim]
        checked += 1
    # the decoding claims (the two Sudoku ones and the written conclusion's included) and the reasoning check, the trace
    # claims, Table E's claims
    assert checked == 13 and trace_rows == 5 and finetune_rows == 3
    # docs/seeds.md, claims.json and the seed records recomputed: one pooled word and interval per seed claim
    from mdlm_study.experiments.seeds import MODEL_CHECKS, claim_results
    record = json.loads((ROOT / conclusions.SEED_CLAIMS).read_text())
    states = [json.loads(path.read_text()) for path in conclusions.default_seed_records(ROOT).values()]
    saved_claims = {c["claim"]: c for c in record["claims"] + record["model_checks"] if "pooled" in c}
    fresh_claims = [c for c in claim_results(states) + claim_results(states, MODEL_CHECKS) if "pooled" in c]  # unmeasured: in neither
    assert sorted(saved_claims) == sorted(c["claim"] for c in fresh_claims)
    for fresh in fresh_claims:
        saved = saved_claims[fresh["claim"]]
        assert saved["pooled"]["verdict"] == fresh["pooled"]["verdict"] == seeds_md[fresh["text"]][6].strip("*"), fresh["claim"]
        assert saved["pooled"]["low"] == pytest.approx(fresh["pooled"]["low"]) and saved["holding"]["holding"] == fresh["holding"]["holding"]
        assert seeds_md[fresh["text"]][7] == f"{fresh['holding']['holding']}/{fresh['holding']['total']}"


VERDICT_WORDS = "reproduced|holds|differs|smaller|larger|opposite|not detected|inconclusive"  # today's words and the old ones


def verdict_rows(markdown: str) -> list[str]:
    """The Markdown table lines that give a verdict: a verdict word in bold, or a cell that is a verdict word."""
    rows = []
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and (re.search(rf"\*\*({VERDICT_WORDS})\*\*", line, re.I)
                                     or any(re.fullmatch(rf"({VERDICT_WORDS})( \(.*\))?", cell, re.I) for cell in cells)):
            rows.append(line)
    return rows


def test_verdict_tables_live_only_in_the_generated_documents():
    """Hand-written docs and the README outside its generated blocks give no verdict table: the verdicts
    of record are docs/results.md's (a hand-kept copy goes stale)."""
    assert verdict_rows("| MED + exit | 4.44x | holds |\n| a | b | **smaller** |\n| a | larger model | 3 |") == [
        "| MED + exit | 4.44x | holds |", "| a | b | **smaller** |"]
    readme = (ROOT / "README.md").read_text()
    for start, end in ((results_doc.README_START, results_doc.README_END), (results_doc.FRONTIER_START, results_doc.FRONTIER_END)):
        readme = readme.split(start)[0] + readme.split(end)[1]
    texts = {"README.md": readme}
    texts |= {f"docs/{p.name}": p.read_text() for p in sorted((ROOT / "docs").glob("*.md")) if not p.read_text().startswith(results_doc.GENERATED)}
    assert {"docs/results.md", "docs/seeds.md", "docs/verdicts.md"}.isdisjoint(texts) and "docs/benchmarks.md" in texts
    found = {name: verdict_rows(text) for name, text in texts.items() if verdict_rows(text)}
    assert found == {}, "a verdict table outside the generated docs: point to docs/results.md instead"
