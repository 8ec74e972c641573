# Evaluates ban time expressions the way fail2ban does, for ban's
# differential tests. Input (stdin, JSON):
#   {"exprs": [{"src": s, "time": n, "count": n, "factor": s}],
#    "policies": [{"bantime": n, "options": {opt: value}, "counts": [n]}]}
# "exprs" are evaluated with Python's eval in the names fail2ban's formula
# sees (ban.Time, ban.Count, banFactor, math); "policies" go through
# fail2ban's own Jail.setBanTimeExtra and the resulting evformula.
import json
import math
import sys

sys.path.insert(0, "/usr/lib/python3/dist-packages")
from fail2ban.server.jail import Jail  # noqa: E402
from fail2ban.server.observer import ObserverThread  # noqa: E402


def result(f):
    try:
        v = f()
    except Exception as e:  # noqa: BLE001 - the error class is the answer
        return {"error": type(e).__name__}
    if isinstance(v, bool):
        return {"type": "bool", "value": int(v)}
    if isinstance(v, int):
        if abs(v) >= 2**63:
            return {"type": "bigint"}
        return {"type": "int", "value": v}
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return {"type": "float", "special": repr(v)}
        return {"type": "float", "value": v}
    return {"error": "type " + type(v).__name__}


class Ban:
    def __init__(self, t, c):
        self.Time = t
        self.Count = c


req = json.load(sys.stdin)
out = {"exprs": [], "policies": []}
for e in req.get("exprs", []):
    def ev(e=e):
        banFactor = eval(e["factor"], {"math": math})
        return eval(e["src"], {"math": math, "ban": Ban(e["time"], e["count"]), "banFactor": banFactor})
    out["exprs"].append(result(ev))


class FakeJail:
    database = None

    def __init__(self):
        self._banExtra = {}


for p in req.get("policies", []):
    jail = FakeJail()
    res = []
    try:
        for opt, value in p["options"].items():
            Jail.setBanTimeExtra(jail, opt, value)
        Jail.setBanTimeExtra(jail, "increment", "true")
    except Exception as e:  # noqa: BLE001
        out["policies"].append({"error": type(e).__name__})
        continue
    evformula = jail._banExtra["evformula"]
    for c in p["counts"]:
        res.append(result(lambda c=c: evformula(ObserverThread.BanTimeIncr(p["bantime"], c))))
    out["policies"].append({"results": res})
json.dump(out, sys.stdout)
