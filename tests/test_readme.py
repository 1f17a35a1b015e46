"""The README's interactive example runs as printed."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_interactive_example_runs():
    block = README.read_text().split("## Interactive use")[1].split("```python")[1].split("```")[0]
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    g = namespace["g"]
    assert g.kind_counts()["skip"] == 100_000 and g.n_edges == 1_271_250
    assert 0.0 <= namespace["net"].evaluate(namespace["data"].x_test, namespace["data"].y_test) < 0.9


def test_local_links_of_the_docs_exist():
    # a regenerated figures folder once dropped the README's topology figure
    root = README.parent
    for doc in (README, root / "docs" / "REPRODUCTION.md"):
        targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text())
        local = [t for t in targets if "://" not in t and not t.startswith("mailto:")]
        assert local, f"no local link found in {doc.name}"
        missing = [t for t in local if not (doc.parent / t).exists()]
        assert not missing, f"{doc.name} links to missing files: {missing}"
