"""The documentation site: every tutorial runs and writes the figures its page shows, the
site builds with ``mkdocs build --strict`` (a broken reference, a missing figure or an API
name that does not resolve fails it), every name of ``jaxrxn.__all__`` is in the API
reference, and every benchmark row names a script that exists."""

import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

import jaxrxn

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# docs/build.py: the same steps as `python docs/build.py`
_spec = importlib.util.spec_from_file_location("jaxrxn_docs_build", DOCS / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def _api_directives() -> set[str]:
    return {m for page in (DOCS / "api").glob("*.md") for m in re.findall(r"^::: ([\w.]+)$", page.read_text(), re.M)}


def test_every_public_name_is_in_the_api_reference():
    index = (DOCS / "api" / "index.md").read_text()
    # rows link `jaxrxn.NAME` to the object's identifier, which the strict build resolves
    refs = dict(re.findall(r"\[`jaxrxn\.(\w+)`\]\[([\w.]+)\]", index))
    assert sorted(refs) == sorted(jaxrxn.__all__), set(refs) ^ set(jaxrxn.__all__)
    documented = _api_directives()
    for name, identifier in refs.items():
        module = identifier.rsplit(".", 1)[0]
        assert identifier.endswith("." + name) and module in documented, (name, identifier)
        assert getattr(sys.modules.get(module) or __import__(module, fromlist=[name]), name) is getattr(jaxrxn, name)


def test_every_public_module_has_an_api_page():
    documented = _api_directives()
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (ROOT / "jaxrxn").rglob("*.py")
        if p.name != "__init__.py" and not p.name.startswith("_") and "commands" not in p.parts
    }
    assert modules - documented <= {"jaxrxn.cli"}, sorted(modules - documented)


def test_every_benchmark_row_names_a_script_that_exists():
    rows = [line for line in (DOCS / "benchmarks.md").read_text().splitlines() if line.startswith("| `")]
    assert len(rows) >= 25
    for row in rows:
        script = re.match(r"\| `([^`]+)` \|", row).group(1)
        assert (ROOT / script).is_file(), script


def test_tutorials_run_and_the_site_builds_strictly(tmp_path):
    """On a copy of docs/ (figures are build outputs, never committed): each tutorial
    writes its figures, then the strict build needs every one of them."""
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs, ignore=shutil.ignore_patterns("figures", "__pycache__"))
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    (tmp_path / "jaxrxn").symlink_to(ROOT / "jaxrxn")  # mkdocstrings reads the sources
    pages = sorted(p.stem for p in (docs / "tutorials").glob("*.md") if p.stem != "index")
    assert sorted(build.TUTORIALS) == pages  # one script per tutorial page
    times = build.run_tutorials(build.TUTORIALS, docs)
    assert sorted(times) == sorted(build.TUTORIALS)
    print("tutorial wall times (s):", {k: round(v, 1) for k, v in times.items()})
    for name in build.TUTORIALS:
        shown = re.findall(r"\]\(figures/([\w.]+\.png)\)", (docs / "tutorials" / f"{name}.md").read_text())
        assert shown and all((docs / "tutorials" / "figures" / f).stat().st_size > 5000 for f in shown), name
    build.mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert (tmp_path / "site" / "api" / "paths" / "index.html").read_text().count('id="jaxrxn.path.elastic_band.neb"') == 1


@pytest.mark.parametrize("script", ["raise ValueError('no such molecule')", "import sys; sys.exit(0)"])
def test_a_failing_tutorial_is_named(tmp_path, script):
    """The tutorials share one process: one that raises, or exits before its end (the
    tutorials after it would not run), fails the build naming it."""
    (tmp_path / "tutorials").mkdir()
    (tmp_path / "tutorials" / "fine.py").write_text("print('ok')\n")
    (tmp_path / "tutorials" / "broken.py").write_text(script + "\n")
    assert list(build.run_tutorials(("fine",), tmp_path)) == ["fine"]
    with pytest.raises(RuntimeError, match="tutorial broken failed"):
        build.run_tutorials(("fine", "broken", "fine"), tmp_path)


@pytest.mark.parametrize("broken", [None, "[gone][jaxrxn.path.no_such_function]", "![missing](figures/no_such_figure.png)"])
def test_strict_build_fails_on_a_broken_reference(tmp_path, broken):
    """A one-page site with the project's configuration: it builds, and it fails with a
    reference to a missing API name or a missing figure."""
    (tmp_path / "docs").mkdir()
    config = (ROOT / "mkdocs.yml").read_text()
    config = config[: config.index("nav:")] + "nav:\n  - Home: index.md\n\n" + config[config.index("exclude_docs:") :]
    (tmp_path / "mkdocs.yml").write_text(config)
    (tmp_path / "jaxrxn").symlink_to(ROOT / "jaxrxn")
    (tmp_path / "docs" / "index.md").write_text("# jaxrxn\n\nSee [neb][jaxrxn.path.elastic_band.neb].\n\n::: jaxrxn.path.elastic_band.neb\n\n" + (broken or "") + "\n")
    if broken is None:
        build.mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
        return
    with pytest.raises(RuntimeError, match="mkdocs build --strict failed"):
        build.mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
