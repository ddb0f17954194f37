"""A Stryker mutation-testing report as one self-contained HTML page (mutation-testing-elements).

The viewer's script is vendored beside this module (README.md there says which version, from
where, under which license) and inlined into the page, so the page works opened from disk,
offline. Standard library only: the mutmut gate and the kit's own mutation tool both use it,
and the latter must not need mutmut.
"""

import json
from pathlib import Path

HERE = Path(__file__).parent
SCRIPT = HERE / "mutation-test-elements.js"
VERSION = "3.9.0"  # of the npm package mutation-testing-elements; README.md here says the same
TITLE = "attention-conformance mutation report"

# The script comes first, so the element is defined (and upgraded) as soon as it is parsed; the
# report is then set on its `report` property, as the elements' README documents.
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<script>
{script}
</script>
</head>
<body>
<mutation-test-report-app title-postfix="{title}"></mutation-test-report-app>
<script>
document.querySelector("mutation-test-report-app").report = {report};
</script>
</body>
</html>
"""


def write_page(document, path):
    """Write the Stryker document `document` (a dict, schema v2) as an HTML page at `path`."""
    Path(path).write_text(page(document), encoding="utf-8")


def page(document):
    """The HTML text of the page showing `document`."""
    return PAGE.format(title=TITLE, script=_script(), report=_embedded(document))


def _script():
    script = SCRIPT.read_text(encoding="utf-8")
    # A "</script" inside would end the inline script early; checked here so that an update of
    # the vendored file that brings one fails loudly instead of breaking every page.
    if "</script" in script.lower():
        raise RuntimeError(f"{SCRIPT} contains '</script' and cannot be inlined in a <script> tag")
    return script


def _embedded(document):
    """The document as a JavaScript literal safe inside <script>: every '<' escaped (JSON's \\u003c),
    so that a source file holding '</script>' or '<!--' cannot end or derail the script."""
    return json.dumps(document).replace("<", "\\u003c")
