"""The README's interactive example runs as printed."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_interactive_example_runs():
    block = README.read_text().split("## Interactive use")[1].split("```python")[1].split("```")[0]
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    g = namespace["g"]
    assert g.kind_counts()["skip"] == 100_000 and g.n_edges == 1_271_250
    assert 0.0 <= namespace["net"].evaluate(namespace["data"].x_test, namespace["data"].y_test) < 0.9
