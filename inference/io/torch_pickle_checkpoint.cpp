#include "torch_pickle_checkpoint.h"

#include <map>

#include "../status.h"
#include "pickle_reader.h"
#include "zip_reader.h"

namespace sdgimp::io {
namespace {

// The keys real-world files wrap their state dict in, in the order they are tried.
// "string_to_param": an A1111 textual-inversion embedding (its vectors under "*").
const char* const kWrappers[] = {"state_dict", "params_ema", "params", "model_state_dict", "model", "string_to_param"};

const PyObj* unwrap(const PyObj* root, std::string* wrapper, const std::string& path) {
    if (root->kind != PyObj::Kind::kDict)
        throw_bad_file(path, "does not hold a dictionary of tensors; it is not a model checkpoint.");
    for (const char* w : kWrappers) {
        const PyObj* inner = root->get(w);
        if (inner && inner->kind == PyObj::Kind::kDict) {
            *wrapper = w;
            return inner;
        }
    }
    wrapper->clear();
    return root;
}

// Storage bytes by key: a callback so zip and legacy containers share the tensor walk.
struct StorageBytes {
    const uint8_t* data;
    size_t bytes;
};

RawTensor raw_tensor(const PyObj* t, StorageBytes sb, const std::shared_ptr<const MappedFile>& file, const std::string& name) {
    const PyObj* st = t->storage;
    RawTensor r;
    r.dtype = st->dtype;
    r.shape = t->size;
    r.strides = t->stride;
    r.storage_offset = t->offset;
    const size_t esz = dtype_size(st->dtype);
    // A legacy view starts inside its root storage.
    const size_t view_bytes = static_cast<size_t>(st->view_offset) * esz;
    if (view_bytes > sb.bytes) throw_bad_file(file->path(), "has a storage view past its data; the file is corrupt.");
    r.data = sb.data + view_bytes;
    r.storage_bytes = std::min(sb.bytes - view_bytes, static_cast<size_t>(st->storage_numel) * esz);
    r.owner = file;
    check_view_in_bounds(r, file->path(), "tensor '" + name + "'");
    return r;
}

template <typename Resolve>
TensorMap collect_tensors(const PyObj* dict, const std::shared_ptr<const MappedFile>& file, Resolve resolve) {
    TensorMap out;
    for (const auto& kv : dict->dict) {
        if (kv.first->kind != PyObj::Kind::kStr || kv.second->kind != PyObj::Kind::kTensor) continue;
        out[kv.first->s] = raw_tensor(kv.second, resolve(*kv.second->storage), file, kv.first->s);
    }
    if (out.empty()) throw_bad_file(file->path(), "holds no tensors; it is not a model checkpoint.");
    return out;
}

// Opens a torch.save zip archive's pickle and hands its root object, with a way to each storage's
// bytes, to `use` (the objects live only as long as the unpickler).
template <typename Use>
void with_zip_pickle(const std::shared_ptr<const MappedFile>& file, Use use) {
    const std::string& path = file->path();
    ZipReader zip(file);
    std::string root;
    for (const auto& kv : zip.entries()) {
        const std::string& name = kv.first;
        const std::string suffix = "data.pkl";
        if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
            (name.size() == suffix.size() || name[name.size() - suffix.size() - 1] == '/')) {
            root = name.substr(0, name.size() - suffix.size());
            break;
        }
    }
    const ZipEntry* pkl = zip.find(root + "data.pkl");
    if (!pkl) throw_bad_file(path, "is a zip archive without data.pkl; it was not written by torch.save.");
    if (const ZipEntry* bo = zip.find(root + "byteorder")) {
        std::string order(reinterpret_cast<const char*>(zip.data(*bo, "byteorder")), bo->size);
        if (order != "little") throw_bad_file(path, "stores big-endian tensors, which are not supported; re-save it on a little-endian machine.");
    }
    Unpickler up(zip.data(*pkl, "data.pkl"), pkl->size, path);
    const PyObj* obj = up.load();
    use(obj, [&](const PyObj& st) {
        const std::string key = root + "data/" + st.storage_key;
        const ZipEntry* e = zip.find(key);
        if (!e) throw_bad_file(path, "lacks the data of storage '" + st.storage_key + "'; the file is truncated.");
        return StorageBytes{zip.data(*e, key), static_cast<size_t>(e->size)};
    });
}

// 0x1950a86a20f9469cfc6c as the little-endian bytes of a pickled LONG1.
const std::string kLegacyMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);

// The legacy stream: the object, then each storage's raw bytes in key order. Their element sizes
// come from the tensors `tensors_of(root)` names (the stream itself records only counts).
template <typename TensorsOf, typename Use>
void with_legacy_pickle(const std::shared_ptr<const MappedFile>& file, TensorsOf tensors_of, Use use) {
    const std::string& path = file->path();
    Unpickler up(file->data(), file->size(), path);
    const PyObj* magic = up.load();
    if (magic->kind != PyObj::Kind::kBigInt || magic->s != kLegacyMagic)
        throw_bad_file(path, "is not a torch.save file (wrong magic number).");
    const PyObj* proto = up.load();
    if (proto->kind != PyObj::Kind::kInt || proto->i != 1001)
        throw_bad_file(path, "uses an unknown legacy torch.save protocol; re-save it with a current torch.");
    const PyObj* sys_info = up.load();
    if (const PyObj* le = sys_info->get("little_endian"); le && le->kind == PyObj::Kind::kBool && !le->i)
        throw_bad_file(path, "stores big-endian tensors, which are not supported; re-save it on a little-endian machine.");
    const PyObj* obj = up.load();
    const PyObj* keys = up.load();
    if (keys->kind != PyObj::Kind::kList) throw_bad_file(path, "lacks its storage key list; the file is truncated.");

    std::map<std::string, size_t> elem_size;
    for (const PyObj* t : tensors_of(obj)) elem_size[t->storage->storage_key] = dtype_size(t->storage->dtype);

    std::map<std::string, StorageBytes> data;
    size_t pos = up.position();
    for (const PyObj* k : keys->items) {
        if (k->kind != PyObj::Kind::kStr) throw_bad_file(path, "has a malformed storage key list; the file is corrupt.");
        if (file->size() - pos < 8) throw_bad_file(path, "ends before storage '" + k->s + "'; the file is truncated.");
        uint64_t numel = 0;
        for (int i = 7; i >= 0; --i) numel = (numel << 8) | file->data()[pos + i];
        pos += 8;
        auto es = elem_size.find(k->s);
        const size_t esz = es == elem_size.end() ? 1 : es->second;
        if (numel > (file->size() - pos) / esz)
            throw_bad_file(path, "ends inside storage '" + k->s + "'; the file is truncated.");
        data[k->s] = StorageBytes{file->data() + pos, static_cast<size_t>(numel * esz)};
        pos += numel * esz;
    }
    use(obj, [&](const PyObj& st) {
        auto it = data.find(st.storage_key);
        if (it == data.end()) throw_bad_file(path, "lacks the data of storage '" + st.storage_key + "'; the file is truncated.");
        return it->second;
    });
}

std::vector<const PyObj*> top_level_tensors(const PyObj* dict) {
    std::vector<const PyObj*> out;
    for (const auto& kv : dict->dict)
        if (kv.second->kind == PyObj::Kind::kTensor) out.push_back(kv.second);
    return out;
}

// Deeper than any real file's nesting; also where a pickle that contains itself stops.
constexpr int kMaxTreeDepth = 16;

// Every tensor and plain value under `o` by dotted path: dict keys that are strings or integers,
// list and tuple positions.
void walk_tree(const PyObj* o, const std::string& path, int depth, std::vector<std::pair<std::string, const PyObj*>>& out) {
    if (depth > kMaxTreeDepth) return;
    const auto join = [&](const std::string& k) { return path.empty() ? k : path + "." + k; };
    switch (o->kind) {
        case PyObj::Kind::kDict:
            for (const auto& [k, v] : o->dict) {
                if (k->kind == PyObj::Kind::kStr) walk_tree(v, join(k->s), depth + 1, out);
                else if (k->kind == PyObj::Kind::kInt) walk_tree(v, join(std::to_string(k->i)), depth + 1, out);
            }
            break;
        case PyObj::Kind::kList:
        case PyObj::Kind::kTuple:
            out.emplace_back(path, o);
            for (size_t i = 0; i < o->items.size(); ++i) walk_tree(o->items[i], join(std::to_string(i)), depth + 1, out);
            break;
        default:
            out.emplace_back(path, o);
    }
}

PlainValue plain_value(const PyObj* o) {
    PlainValue v;
    switch (o->kind) {
        case PyObj::Kind::kNone: v.kind = PlainValue::Kind::kNone; break;
        case PyObj::Kind::kBool: v.kind = PlainValue::Kind::kBool; v.number = static_cast<double>(o->i); break;
        case PyObj::Kind::kInt: v.kind = PlainValue::Kind::kInt; v.number = static_cast<double>(o->i); break;
        case PyObj::Kind::kFloat: v.kind = PlainValue::Kind::kFloat; v.number = o->f; break;
        case PyObj::Kind::kStr: v.kind = PlainValue::Kind::kStr; v.text = o->s; break;
        case PyObj::Kind::kList:
        case PyObj::Kind::kTuple:
            v.kind = PlainValue::Kind::kNumbers;
            for (const PyObj* i : o->items) {
                if (i->kind == PyObj::Kind::kInt || i->kind == PyObj::Kind::kBool) v.numbers.push_back(static_cast<double>(i->i));
                else if (i->kind == PyObj::Kind::kFloat) v.numbers.push_back(i->f);
                else { v.kind = PlainValue::Kind::kOther; v.numbers.clear(); break; }
            }
            break;
        default: v.kind = PlainValue::Kind::kOther;
    }
    return v;
}

template <typename Resolve>
PickleTree tree_of(const PyObj* root, const std::shared_ptr<const MappedFile>& file, Resolve resolve) {
    std::vector<std::pair<std::string, const PyObj*>> items;
    walk_tree(root, "", 0, items);
    PickleTree out;
    for (const auto& [path, o] : items) {
        if (o->kind == PyObj::Kind::kTensor) out.tensors[path] = raw_tensor(o, resolve(*o->storage), file, path);
        else out.values[path] = plain_value(o);
    }
    return out;
}

std::vector<const PyObj*> tensors_in_tree(const PyObj* root) {
    std::vector<std::pair<std::string, const PyObj*>> items;
    walk_tree(root, "", 0, items);
    std::vector<const PyObj*> out;
    for (const auto& kv : items)
        if (kv.second->kind == PyObj::Kind::kTensor) out.push_back(kv.second);
    return out;
}

}  // namespace

PickleCheckpoint read_torch_zip(std::shared_ptr<const MappedFile> file) {
    PickleCheckpoint out;
    out.container = "zip";
    with_zip_pickle(file, [&](const PyObj* obj, const auto& resolve) {
        out.tensors = collect_tensors(unwrap(obj, &out.wrapper, file->path()), file, resolve);
    });
    return out;
}

bool looks_like_torch_legacy(const MappedFile& file) {
    // PROTO 2, LONG1 10 <magic>
    return file.size() > 14 && file.data()[0] == 0x80 && file.data()[2] == 0x8a && file.data()[3] == 10 &&
           std::string(reinterpret_cast<const char*>(file.data() + 4), 10) == kLegacyMagic;
}

PickleCheckpoint read_torch_legacy(std::shared_ptr<const MappedFile> file) {
    PickleCheckpoint out;
    out.container = "legacy";
    std::string wrapper;
    with_legacy_pickle(
        file, [&](const PyObj* obj) { return top_level_tensors(unwrap(obj, &wrapper, file->path())); },
        [&](const PyObj* obj, const auto& resolve) {
            out.tensors = collect_tensors(unwrap(obj, &out.wrapper, file->path()), file, resolve);
        });
    return out;
}

PickleTree read_torch_tree(std::shared_ptr<const MappedFile> file) {
    PickleTree out;
    const auto use = [&](const PyObj* obj, const auto& resolve) { out = tree_of(obj, file, resolve); };
    if (looks_like_torch_legacy(*file)) with_legacy_pickle(file, tensors_in_tree, use);
    else with_zip_pickle(file, use);
    return out;
}

}  // namespace sdgimp::io
