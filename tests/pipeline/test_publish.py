"""The public tree is a repository that publishes itself.

`course publish` on a scratch copy (with a stand-in for the built site) must give a tree
with the release, the package, the site, a valid GitHub Actions workflow that deploys
site/ to GitHub Pages by artifact, `.nojekyll` files, and a student README with a Colab
badge and the points of every notebook and the helper package's install line.
"""
from __future__ import annotations

import nbformat
import pytest
import yaml

from course import ROOT
from course.check import scratch_copy
from course.config import assignments, settings
from course.publish import publish


@pytest.fixture(scope="module")
def public(tmp_path_factory):
    root = scratch_copy(ROOT, tmp_path_factory.mktemp("publish"))
    site = root / "_build" / "html"
    (site / "_static").mkdir(parents=True)
    (site / "index.html").write_text("<html>course</html>")
    (site / "_static" / "style.css").write_text("body {}")
    return root, publish(root)


def test_tree_structure(public):
    root, out = public
    assert (out / "site" / "index.html").exists() and (out / "site" / "_static" / "style.css").exists()
    assert (out / ".nojekyll").exists() and (out / "site" / ".nojekyll").exists()
    assert (out / "package" / "pyproject.toml").exists()
    for a in assignments(root):
        assert list((out / "assignments" / a).glob("*.ipynb")), a
    names = {p.name for p in out.rglob("*")}
    assert not names & {"source", "solutions", "autograder", "answer.key", "gradebook.db", "nbgrader_config.py"}


def test_workflow_deploys_the_site_to_pages(public):
    root, out = public
    wf = yaml.safe_load((out / ".github" / "workflows" / "pages.yml").read_text())
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == [settings(root)["public"]["branch"]] and "workflow_dispatch" in on
    assert wf["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    deploy = wf["jobs"]["deploy"]
    assert deploy["environment"]["name"] == "github-pages"
    uses = [step.get("uses", "") for step in deploy["steps"]]
    assert [u.split("@")[0] for u in uses] == ["actions/checkout", "actions/configure-pages",
                                               "actions/upload-pages-artifact", "actions/deploy-pages"]
    upload = next(s for s in deploy["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "site" and (out / upload["with"]["path"] / "index.html").exists()


def test_student_readme(public):
    root, out = public
    conf = settings(root)["public"]
    text = (out / "README.md").read_text()
    assert f'pip install "dlcourse @ git+{conf["repository"]}@{conf["branch"]}#subdirectory=package"' in text
    assert conf["site"] in text
    for nb_path in sorted((out / "assignments").glob("*/*.ipynb")):
        rel = nb_path.relative_to(out).as_posix()
        slug = conf["repository"].removeprefix("https://github.com/")
        assert f"colab.research.google.com/github/{slug}/blob/{conf['branch']}/{rel}" in text
        nb = nbformat.read(str(nb_path), as_version=4)
        title = nb.cells[0].source.splitlines()[0].removeprefix("# ")
        assert f"[{title}]({rel})" in text
    assert text.count("colab-badge.svg") == len(list((out / "assignments").glob("*/*.ipynb")))
    assert "19 autograded + 4 written" in text  # sentence_classification, from its metadata


def test_leak_check_passes_on_the_public_tree(public):
    from course.check import scan

    root, out = public
    assert scan([out], root) == []
