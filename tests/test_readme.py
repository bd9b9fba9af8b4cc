"""The README's example spec and its error example are real."""
import re
from pathlib import Path

import pytest

import archdsl
from tests.helpers import assert_static_equals_runtime

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SPEC = re.search(r"```yaml\n(.*?)```", README, re.S).group(1)


def test_readme_spec_checks_and_runs(tmp_path):
    path = tmp_path / "small_resnet.yaml"
    path.write_text(SPEC)
    spec = archdsl.load(str(path))
    assert spec.check()["fc"][1] == 10
    assert_static_equals_runtime(spec, N=2)
    assert len(SPEC.splitlines()) <= 25


def test_readme_error_example_is_what_archdsl_prints(tmp_path, monkeypatch):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "small_resnet.yaml").write_text(
        SPEC.replace('layer1: "[Basic(width)] * 2"', 'layer1: "[Basic(width * 2)] * 2"'))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(archdsl.ArchDSLError) as info:
        archdsl.load("specs/small_resnet.yaml").check()
    assert info.value.render() in README


def test_language_reference_first_example_checks(tmp_path):
    text = (Path(__file__).resolve().parent.parent / "docs" / "language.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    path = tmp_path / "tiny_cnn.yaml"
    path.write_text(example)
    spec = archdsl.load(str(path))
    assert_static_equals_runtime(spec, N=2)


def test_readme_documentation_list_links_every_docs_page():
    root = Path(__file__).resolve().parent.parent
    listed = README.split("\n## Documentation\n")[1].split("\n## ")[0]
    pages = sorted(p.name for p in (root / "docs").glob("*.md"))
    assert [p for p in pages if f"](docs/{p})" not in listed] == []
