"""Reference for TestRegexAgainstPython: Python's re.search on each case.

Reads a JSON list of [pattern, text, pos, endpos] from stdin and writes a
JSON list of results: null for no match, the spans of all groups (group 0
first, [-1, -1] for a group that did not participate) on a match, or the
error message if the pattern does not compile. Spans count characters.
"""
import json
import re
import sys

out = []
for pattern, text, pos, endpos in json.load(sys.stdin):
    try:
        rx = re.compile(pattern)
    except re.error as e:
        out.append(str(e))
        continue
    m = rx.search(text, pos, endpos)
    out.append(None if m is None else [list(m.span(g)) for g in range(rx.groups + 1)])
json.dump(out, sys.stdout)
