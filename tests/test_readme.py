"""The README quotes what the kit prints now: each quoted output is rerun as tools/readme.py runs it
and compared with the README's block, a diff showing where they part."""

import pytest

from tools import readme
from tools.kill_matrix import README

FIX = "python -m tools.readme rewrites the README's quoted outputs from the kit as it is now"


@pytest.fixture(scope="module")
def produced():
    """A function giving a block's text as the kit prints it now, each block run once in this module."""
    done = {}

    def produce(block):
        if not readme.available(block):
            pytest.skip(f"{block.needs} is not installed: pip install 'attention-conformance[{block.needs}]'")
        if block not in done:
            done[block] = readme.produce(block)
        return done[block]

    return produce


@pytest.mark.parametrize("block", readme.BLOCKS, ids=lambda block: block.command.removeprefix("pytest "))
def test_the_readme_quotes_what_the_kit_prints_now(block, produced):
    diffs = readme.differences(README.read_text(), {block: produced(block)})
    assert not diffs, f"\n{diffs[block.command]}\n{FIX}"


def test_every_output_marker_of_the_readme_names_a_block_of_the_tool():
    assert readme.unknown_markers(README.read_text()) == []


def test_a_quoted_line_that_differs_from_what_the_kit_prints_fails_with_a_diff(tmp_path, produced):
    block = readme.BLOCKS[0]  # the opening example: numpy alone, no framework needed
    text = README.read_text()
    line = next(line for line in readme.quoted(text, block) if "inputs drawn with seed" in line)
    copy = tmp_path / "README.md"
    copy.write_text(text.replace(line, line.replace("seed", "seed 1", 1), 1))
    diffs = readme.differences(copy.read_text(), {block: produced(block)})
    assert f"-{line.replace('seed', 'seed 1', 1)}\n+{line}" in diffs[block.command], diffs
    assert readme.differences(text, {block: produced(block)}) == {}  # the README itself is untouched
