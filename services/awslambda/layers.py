"""Layer versions on the shard (kind ``lambda.layer``, key ``lambda-layer/<account>/<region>/<name>``).

A function keeps the code descriptors of its layers in its configuration
(resolved when it is created or updated, as AWS pins a layer version), so an
invocation never looks a layer up in another partition.
"""

from __future__ import annotations

from services.awslambda.functions import now_iso
from services.awslambda.model import layer_arn, not_found

K_LAYER = "lambda.layer"


def layer_key(account: str, region: str, name: str) -> str:
    return f"lambda-layer/{account}/{region}/{name}"


class LayerRecords:
    def __init__(self):
        self.layers: dict[str, dict] = dict(self.store.scan(K_LAYER))

    @staticmethod
    def _lv_view(lay: dict, n: str, v: dict) -> dict:
        out = {"LayerArn": layer_arn(lay["r"], lay["a"], lay["n"]),
               "LayerVersionArn": layer_arn(lay["r"], lay["a"], lay["n"], int(n)),
               "Description": v.get("Description", ""), "CreatedDate": v["c"], "Version": int(n),
               "Content": {"CodeSha256": v["code"]["sha"], "CodeSize": v["code"]["size"]}}
        for k in ("CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures"):
            if v.get(k):
                out[k] = v[k]
        return out

    def _lv(self, a) -> tuple[dict, str, dict]:
        lay = self.layers.get(a["k"])
        n = str(a["q"].get("VersionNumber", ""))
        v = lay and lay["vers"].get(n)
        if v is None:
            raise not_found("The resource you requested does not exist.")
        return lay, n, v

    def op_Layer(self, a):
        op, key, p = a["op"], a["k"], a["q"]
        if op == "PublishLayerVersion":
            lay = self.layers.get(key)
            if lay is None:
                lay = self.layers[key] = {"n": p["LayerName"], "a": a["a"], "r": a["r"], "vers": {}, "nv": 1}
            n = str(lay["nv"])
            lay["nv"] += 1
            v = {k: p[k] for k in ("Description", "CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures")
                 if p.get(k)}
            v.update(code=a["code"], c=now_iso())
            lay["vers"][n] = v
            self.store.put(K_LAYER, key, lay)
            return {**self._lv_view(lay, n, v), "_code": v["code"]}
        if op == "GetLayerVersion":
            lay, n, v = self._lv(a)
            return {**self._lv_view(lay, n, v), "_code": v["code"]}
        if op == "DeleteLayerVersion":
            lay = self.layers.get(key)
            if lay is not None and lay["vers"].pop(str(p.get("VersionNumber")), None) is not None:
                self.store.put(K_LAYER, key, lay)
            return {}
        if op == "ListLayerVersions":
            lay = self.layers.get(key)
            if lay is None:
                return {"_items": []}
            rt = p.get("CompatibleRuntime")
            items = [self._lv_view(lay, n, v) for n, v in sorted(lay["vers"].items(), key=lambda i: -int(i[0]))
                     if not rt or rt in (v.get("CompatibleRuntimes") or ())]
            return {"_items": items}
        raise not_found("The resource you requested does not exist.")

    def op_LayerList(self, a):
        prefix = f"lambda-layer/{a['a']}/{a['r']}/"
        out = []
        for key, lay in self.layers.items():
            if key.startswith(prefix) and lay["vers"]:
                n = max(lay["vers"], key=int)
                lv = self._lv_view(lay, n, lay["vers"][n])
                lv.pop("LayerArn")
                out.append({"LayerName": lay["n"], "LayerArn": layer_arn(lay["r"], lay["a"], lay["n"]),
                            "LatestMatchingVersion": lv})
        return out
