"""docs/security.md lists every budget with its default: the same table the binary prints."""
import re

from conftest import REPO


def test_security_doc_lists_every_budget_the_binary_has(conet):
    printed = conet.run("debug", "limits").stdout
    doc = (REPO / "docs" / "security.md").read_text()
    m = re.search(r"<!-- limits-table: begin.*?-->\n(.*?)<!-- limits-table: end -->", doc, re.S)
    assert m, "docs/security.md has no limits table markers"
    assert m.group(1) == printed, "docs/security.md's budget table differs from `conet debug limits`: paste its output"
    assert printed.count("\n| `") >= 30  # one row per limit
