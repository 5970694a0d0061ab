"""The README's Python example runs as written."""

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example_runs(tmp_path, monkeypatch, capsys):
    text = README.read_text()
    m = re.search(r"<!-- python-example[^>]*-->\s*```python\n(.*?)```", text, re.S)
    assert m, "the README's example block is missing"
    code = m.group(1)
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "Collection(dim=64" in out and "chi2" in out
    assert (tmp_path / "vectors.udb").exists()
