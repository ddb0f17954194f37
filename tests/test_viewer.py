"""The mutation report's HTML page (attention_conformance.viewer), opened in a real headless Chromium
with every host unresolvable: offline, it shows the files with their counts and scores, and on a
file's page the statuses of its mutants. The mutmut gate writes the page beside its JSON report."""

import html
import os
import re
import shutil
import subprocess

import pytest

from attention_conformance.mutation import page_path
from attention_conformance.viewer import SCRIPT, TITLE, VERSION, page, write_page

ATTENTION = "def softmax(x):\n    e = exp(x - x.max())\n    return e / e.sum()\n"
MASK = "def mask(n):\n    return triu(full((n, n), -inf), k=1)  # </script> in a comment\n"

# The elements render into shadow roots, which --dump-dom leaves out: this probe, appended to a
# copy of the page, waits until the text stops changing, then writes it into a light-DOM <pre>,
# a line per text and a table row as one line of cells.
PROBE = """<script>
function texts(node, out) {
  if (node.nodeType === Node.TEXT_NODE) { const t = node.nodeValue.trim(); if (t) out.push(t); return; }
  if (node.nodeName === "STYLE" || node.nodeName === "SCRIPT") return;
  if (node.nodeName === "TR") { const cells = []; inner(node, cells); out.push(cells.join(" | ")); return; }
  inner(node, out);
}
function inner(node, out) {
  if (node.shadowRoot) texts(node.shadowRoot, out);
  for (const child of node.childNodes) texts(child, out);
}
function wait(previous, tries) {
  const out = [];
  texts(document.querySelector("mutation-test-report-app"), out);
  const now = out.join("\\n");
  if ((now === previous && now.includes(" | ")) || tries === 0) {
    const pre = document.createElement("pre");
    pre.id = "probe";
    pre.textContent = now;
    document.body.appendChild(pre);
  } else setTimeout(() => wait(now, tries - 1), 200);
}
wait("", 40);
</script>
"""


def mutant(id, mutator, status, line, columns, replacement):
    start, end = columns
    return {"id": id, "mutatorName": mutator, "replacement": replacement, "status": status,
            "location": {"start": {"line": line, "column": start}, "end": {"line": line, "column": end}}}  # fmt: skip


def document():
    """A Stryker document (schema v2) of two files: one killed, one survivor and one timeout in the
    first, one killed in the second, whose source holds a '</script>'."""
    attention = [
        mutant("1", "OperatorMutation", "Killed", 2, (14, 15), "+"),
        mutant("2", "OperatorMutation", "Survived", 3, (12, 13), "*"),
        mutant("3", "NameMutation", "Timeout", 2, (9, 12), "None"),
    ]
    mask = [mutant("4", "NumberLiteral", "Killed", 2, (39, 40), "2")]
    return {
        "schemaVersion": "2",
        "thresholds": {"high": 80, "low": 60},
        "files": {
            "reference/attention.py": {"language": "python", "source": ATTENTION, "mutants": attention},
            "reference/mask.py": {"language": "python", "source": MASK, "mutants": mask},
        },
    }


@pytest.fixture
def chromium():
    found = shutil.which("chromium")
    if found is None:
        # In CI a missing browser is a broken set-up (.ci/run installs it), never a skip.
        reason = "no chromium on PATH: apt-get install chromium (Debian's package) to open the report's page"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture
def shown(tmp_path, chromium):
    """A function giving the page's text as Chromium renders it at a route (the part after '#')."""
    path = tmp_path / "mutation-report.html"
    write_page(document(), path)
    probed = tmp_path / "probed.html"
    probed.write_text(path.read_text().replace("</body>", PROBE + "</body>"))

    def show(route=""):
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update", "--disable-sync",
                   "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: no host resolves
                   f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
                   "--dump-dom", f"{probed.as_uri()}#{route}"]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        found = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, re.S)
        assert found, f"the probe found no rendered page; chromium's stderr ends:\n{done.stderr[-2000:]}"
        return html.unescape(found.group(1))

    return show


def table(text):
    """{first cell: {column: cell}} of the page's table, the columns named by its header row."""
    rows = [line.split(" | ") for line in text.splitlines() if " | " in line]
    # The header's info icon and the score's two columns (of total, of covered) line up, so that
    # each count falls under its own name.
    header = next(row for row in rows if row[0] == "File / Directory")[1:]
    return {row[0]: dict(zip(header, row[1:])) for row in rows}


def test_the_page_shows_each_file_with_its_counts_and_score(shown):
    text = shown()
    rows = table(text)
    assert TITLE in text
    counts = ["Mutation Score", "Killed", "Survived", "Timeout"]  # a timeout counts as detected
    assert [rows["All files"][name] for name in counts] == ["75.00", "2", "1", "1"], rows
    assert [rows["attention.py"][name] for name in counts] == ["66.67", "1", "1", "1"], rows
    assert [rows["mask.py"][name] for name in counts] == ["100.00", "1", "0", "0"], rows


def test_a_files_page_shows_its_mutants_and_their_statuses(shown):
    text = " ".join(shown("mutant/attention.py").splitlines())
    for status in ("Killed", "Survived", "Timeout"):  # the filters, each with its number of mutants
        assert f"{status} ( 1 )" in text, text
    # Live mutants are marked in the source by mutator and status (the killed one is filtered out).
    assert "OperatorMutation Survived" in text and "NameMutation Timeout" in text, text
    assert "e = exp ( x - x . max ( ) )" in " ".join(text.split(" | ")), text


def test_a_source_holding_a_closing_script_tag_is_shown_as_written(shown):
    text = shown("mutant/mask.py")
    assert "# </script> in a comment" in text, text


def test_the_page_is_one_file_that_loads_nothing_and_keeps_the_viewers_license():
    written = page(document()).lower()
    assert written.count("</script") == 2  # the viewer's and the report's own: the source's is escaped
    assert "<script src" not in written and "<link" not in written
    assert "apache license" in (SCRIPT.parent / "LICENSE-mutation-testing-elements").read_text().lower()
    assert f"mutation-testing-elements` {VERSION}" in (SCRIPT.parent / "README.md").read_text()


def test_the_mutmut_gate_writes_the_page_beside_its_json_report(tmp_path):
    assert page_path(tmp_path / "mutation-report.json") == tmp_path / "mutation-report.html"
    assert page_path("report").name == "report.html"
    assert page_path("report.html").name == "report.html.html"  # never in the report's place
