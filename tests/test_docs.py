"""The documentation: the MkDocs site builds with --strict, README.md stays a short front door whose
links resolve, every bench's table has exactly one home in docs/pages, every code block is closed, and
the Python examples of the Python API, presets and tasks pages run."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.readme_tables import PAGES

ROOT = Path(__file__).resolve().parent.parent
PAGES_DIR = ROOT / "docs" / "pages"
README = ROOT / "README.md"
# A bench names its table by a quoted literal: write_table("bench-train", ...), ("bench-export", rows).
MARKER_NAME = re.compile(r"""(["'])(bench-[a-z0-9]+(?:-[a-z0-9]+)*)\1""")


def bench_marker_names():
    names = set()
    for path in (ROOT / "bench").glob("*.py"):
        names.update(match.group(2) for match in MARKER_NAME.finditer(path.read_text()))
    return names


def test_the_site_builds_strictly_with_the_api_reference(tmp_path):
    site = tmp_path / "site"
    mkdocs = Path(sys.executable).with_name("mkdocs")
    done = subprocess.run([str(mkdocs), "build", "--strict", "-f", str(ROOT / "docs" / "mkdocs.yml"),
                           "-d", str(site)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "index.html").is_file()
    reference = site / "reference" / "index.html"
    assert "TrainConfig" in reference.read_text()


def test_the_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= 220, f"README.md has {lines} lines; the rest belongs in docs/pages"


def test_every_bench_table_has_one_page_and_none_in_the_readme():
    names = bench_marker_names()
    assert "bench-train" in names and "bench-export-quantized" in names, names  # the pattern still finds them
    assert names <= set(PAGES), f"no page for {sorted(names - set(PAGES))} in bench.readme_tables.PAGES"
    readme = README.read_text()
    pages = {path: path.read_text() for path in PAGES_DIR.rglob("*.md")}
    for name in sorted(names):
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        holders = [path for path, text in pages.items() if start in text or end in text]
        assert holders == [PAGES_DIR / PAGES[name]], f"{name}: markers in {holders}, expected {PAGES[name]}"
        text = pages[holders[0]]
        assert text.count(start) == 1 and text.count(end) == 1 and text.index(start) < text.index(end), name
        assert start not in readme and end not in readme, f"README.md still holds {name}'s table"


def test_every_relative_link_in_the_readme_resolves():
    prose = re.sub(r"`[^`\n]*`", "", re.sub(r"^```.*?^```", "", README.read_text(), flags=re.M | re.S))
    links = re.findall(r"\]\(([^)\s]+)\)", prose)  # code (`f(x)["a"](y)`) holds no links
    relative = [link for link in links if not re.match(r"[a-z]+:", link) and not link.startswith("#")]
    assert relative, "README.md links nowhere into the documentation"
    missing = [link for link in relative if not (ROOT / link.split("#")[0]).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


@pytest.mark.slow
def test_the_python_guides_examples_run_in_order(tmp_path, monkeypatch, capsys):
    """Every ```python block of the Python API page, run in one namespace from a fresh folder, as a
    notebook would run them; what they print is what the page says they print."""
    page = (PAGES_DIR / "guides" / "python.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", page, flags=re.M | re.S)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, "docs/pages/guides/python.md", "exec"), namespace)  # noqa: S102
    printed = capsys.readouterr().out
    assert "['label', 'label_name']" in printed and "(3, 2)" in printed
    assert "['pos' 'neg']" in printed and "exports/reviews/1" in printed and "True" in printed
    assert "[0 1]" in printed and printed.count("(2, 2)") == 1
    assert "['unique_id', 'ds', 'RNN', 'RNN-lo-80', 'RNN-hi-80']" in printed
    assert "['AutoARIMA', 'AutoETS']" in printed
    assert (tmp_path / "runs" / "notebook" / "halves" / "exported").is_dir()


def test_every_code_block_of_every_page_is_closed_by_a_bare_fence():
    """A fence with text after it (```` ``` Then... ````) does not close its block: the page's prose
    would render as code down to the next fence, which the strict build does not notice."""
    for path in [README, *PAGES_DIR.rglob("*.md")]:
        fences = [(number, line) for number, line in enumerate(path.read_text().splitlines(), 1)
                  if line.lstrip().startswith("```")]
        closing = fences[1::2]
        assert len(fences) % 2 == 0, f"{path}: a code block is never closed"
        bad = [number for number, line in closing if line.strip() != "```"]
        assert not bad, f"{path}: lines {bad} close a block with text after the fence"


def _examples(page):
    return re.findall(r"^```python\n(.*?)^```", (PAGES_DIR / page).read_text(), flags=re.M | re.S)


@pytest.mark.slow
def test_the_presets_and_tasks_pages_examples_run(tmp_path, monkeypatch):
    """The presets guide (my_series.ts: a file of series of this test's) and the tasks design page."""
    from tests.data_files import FORMATS

    _, _, series, _ = FORMATS["ts"]
    (tmp_path / "my_series.ts").write_text(series)
    monkeypatch.chdir(tmp_path)
    for page in ("guides/presets.md", "design/tasks.md"):
        namespace = {}
        for block in _examples(page):
            exec(compile(block, f"docs/pages/{page}", "exec"), namespace)  # noqa: S102
        assert namespace["model"].count_params() > 0
        if page == "guides/presets.md":
            assert namespace["model"].output_shape[-1] == 2  # sized for the file's two classes
