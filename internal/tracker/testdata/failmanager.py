# Runs a sequence of failures through fail2ban's own FailManager and prints
# what it did, for tracker's differential test. Input (stdin, JSON):
#   {"findtime": s, "maxretry": n, "maxmatches": n,
#    "ops": [{"op": "add", "id": s, "t": s, "match": s, "extra": n} |
#            {"op": "cleanup", "t": s}]}
# "extra" replays the bantime.increment observer (observer.py failureFound):
# after the filter's own addFailure, the same ticket is added again with
# count=extra and observed=True.
import json
import sys

sys.path.insert(0, "/usr/lib/python3/dist-packages")
from fail2ban.server.failmanager import FailManager  # noqa: E402
from fail2ban.server.ticket import FailTicket  # noqa: E402

req = json.load(sys.stdin)
fm = FailManager()
fm.setMaxRetry(req["maxretry"])
fm.setMaxTime(req["findtime"])
fm.maxMatches = req["maxmatches"]
maxretry = req["maxretry"]


def state(t):
    return {"id": str(t.getID()), "first": t._firstTime, "last": t.getTime(),
            "retry": t.getRetry(), "failures": t.getAttempt(),
            "matches": t.getMatches()}


out = []
for op in req["ops"]:
    if op["op"] == "cleanup":
        before = fm.size()
        fm.cleanup(op["t"])
        out.append({"dropped": before - fm.size()})
        continue
    tick = FailTicket(op["id"], op["t"], [op["match"]] if op["match"] else None)
    retry = fm.addFailure(tick)
    banned = None
    if retry >= maxretry:
        banned = fm.toBan(tick.getID())
    if op["extra"] and banned is None:
        retry = fm.addFailure(tick, op["extra"], True)
        if retry >= maxretry:
            banned = fm.toBan(tick.getID())
    step = {"retry": retry, "banned": banned is not None}
    if banned is not None:
        step["ticket"] = state(banned)
    out.append(step)
json.dump(out, sys.stdout)
