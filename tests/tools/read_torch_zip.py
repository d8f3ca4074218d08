#!/usr/bin/env python3
"""Reads a torch.save zip archive the way torch.load does, without torch: Python's zipfile (every
record's CRC and the ZIP64 fields checked) and pickle, with torch's rebuild functions and storage
classes stood in by plain values. Prints one JSON object: key -> storage class, offset, size, stride,
numel, sha256 of the tensor's bytes; plus the archive's record names and data offsets."""
import hashlib
import json
import pickle
import sys
import zipfile


class Storage:
    def __init__(self, name):
        self.name = name


def rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks):
    return {"storage": storage, "offset": offset, "size": list(size), "stride": list(stride),
            "requires_grad": requires_grad, "hooks": len(hooks)}


class Unpickler(pickle.Unpickler):
    def __init__(self, f, zf, prefix):
        super().__init__(f)
        self.zf, self.prefix = zf, prefix

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return rebuild_tensor_v2
        if module == "torch" and name.endswith("Storage"):
            return Storage(name)
        if module == "collections" and name == "OrderedDict":
            import collections
            return collections.OrderedDict
        raise pickle.UnpicklingError("global %s.%s is not allowed" % (module, name))

    def persistent_load(self, pid):
        kind, storage_type, key, location, numel = pid
        assert kind == "storage" and location == "cpu", pid
        return {"type": storage_type.name, "key": key, "numel": numel,
                "bytes": self.zf.read(self.prefix + "data/" + key)}


def main(path):
    with zipfile.ZipFile(path) as zf:
        bad = zf.testzip()
        if bad is not None:
            raise SystemExit("CRC mismatch in " + bad)
        names = zf.namelist()
        prefix = names[0].split("/")[0] + "/"
        with zf.open(prefix + "data.pkl") as f:
            obj = Unpickler(f, zf, prefix).load()
        offsets = {}
        for info in zf.infolist():
            with open(path, "rb") as raw:
                raw.seek(info.header_offset + 26)
                n, m = int.from_bytes(raw.read(2), "little"), int.from_bytes(raw.read(2), "little")
            offsets[info.filename] = info.header_offset + 30 + n + m
    out = {"names": names, "data_offsets": offsets, "version": zf_text(path, prefix + "version"),
           "byteorder": zf_text(path, prefix + "byteorder") if prefix + "byteorder" in names else None, "type": type(obj).__name__, "tensors": {}}
    for key, t in obj.items():
        st = t["storage"]
        out["tensors"][key] = {"storage": st["type"], "numel": st["numel"], "offset": t["offset"], "size": t["size"],
                               "stride": t["stride"], "requires_grad": t["requires_grad"], "hooks": t["hooks"],
                               "sha256": hashlib.sha256(st["bytes"]).hexdigest(), "bytes": len(st["bytes"])}
    print(json.dumps(out))


def zf_text(path, name):
    with zipfile.ZipFile(path) as zf:
        return zf.read(name).decode()


if __name__ == "__main__":
    main(sys.argv[1])
