"""Copy the tested example code into the Markdown pages that show it.

A page shows a tested example as a fenced block after a marker line naming the file and,
optionally, a section of it (the lines between ``--8<-- [start:NAME]`` and
``--8<-- [end:NAME]`` comments, dedented)::

    <!-- from docs/examples/home.py:example -->
    ```python
    ...the code, copied here by this script...
    ```

So the page reads complete as a plain file (GitHub, an editor) and the code on it is
the code the tests run. ``python docs/sync_examples.py`` rewrites the blocks of every
page; ``--check`` only lists the pages whose blocks differ (exit 1), as
tests/test_docs.py does.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(
    r"^(?P<indent> *)<!-- from (?P<source>[^\s:]+)(?::(?P<section>\w+))? -->\n"
    r"(?P=indent)```(?P<language>\w+)\n(?P<code>.*?)^(?P=indent)```$",
    flags=re.MULTILINE | re.DOTALL,
)
SECTION_MARK = re.compile(r"--8<-- \[(?:start|end):\w+\]")


def code_of(source: str, section: str | None) -> str:
    """The lines of ``source`` (a path from the repository root) or of one section.

    Raises ValueError for a section the file does not have.
    """
    lines = (ROOT / source).read_text().splitlines()
    if section is not None:
        marks = [line.strip().lstrip("#").strip() for line in lines]
        try:
            start = marks.index(f"--8<-- [start:{section}]")
            end = marks.index(f"--8<-- [end:{section}]", start)
        except ValueError:
            raise ValueError(f"{source} has no section {section!r}") from None
        lines = lines[start + 1 : end]
    kept = [line for line in lines if not SECTION_MARK.search(line)]
    return textwrap.dedent("\n".join(kept)).strip("\n")


def render(page: str) -> str:
    """``page`` with every marked block holding the code its marker names."""

    def block(match: re.Match[str]) -> str:
        indent = match["indent"]
        code = code_of(match["source"], match["section"])
        body = "".join(f"{indent}{line}\n" if line else "\n" for line in code.splitlines())
        head = match[0].split("\n", 2)
        return f"{head[0]}\n{head[1]}\n{body}{indent}```"

    return BLOCK.sub(block, page)


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    stale = []
    for path in PAGES:
        text = path.read_text()
        synced = render(text)
        if synced != text:
            stale.append(path.relative_to(ROOT))
            if not check:
                path.write_text(synced)
    for path in stale:
        print(f"{path}: {'differs from its examples' if check else 'updated'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
