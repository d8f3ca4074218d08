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

template <typename Resolve>
TensorMap collect_tensors(const PyObj* dict, const std::shared_ptr<const MappedFile>& file, Resolve resolve) {
    TensorMap out;
    for (const auto& kv : dict->dict) {
        if (kv.first->kind != PyObj::Kind::kStr || kv.second->kind != PyObj::Kind::kTensor) continue;
        const PyObj* t = kv.second;
        const PyObj* st = t->storage;
        StorageBytes sb = resolve(*st);
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
        check_view_in_bounds(r, file->path(), "tensor '" + kv.first->s + "'");
        out[kv.first->s] = std::move(r);
    }
    if (out.empty()) throw_bad_file(file->path(), "holds no tensors; it is not a model checkpoint.");
    return out;
}

}  // namespace

PickleCheckpoint read_torch_zip(std::shared_ptr<const MappedFile> file) {
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
    PickleCheckpoint out;
    out.container = "zip";
    const PyObj* dict = unwrap(obj, &out.wrapper, path);
    out.tensors = collect_tensors(dict, file, [&](const PyObj& st) {
        const std::string key = root + "data/" + st.storage_key;
        const ZipEntry* e = zip.find(key);
        if (!e) throw_bad_file(path, "lacks the data of storage '" + st.storage_key + "'; the file is truncated.");
        return StorageBytes{zip.data(*e, key), static_cast<size_t>(e->size)};
    });
    return out;
}

namespace {
// 0x1950a86a20f9469cfc6c as the little-endian bytes of a pickled LONG1.
const std::string kLegacyMagic("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
}  // namespace

bool looks_like_torch_legacy(const MappedFile& file) {
    // PROTO 2, LONG1 10 <magic>
    return file.size() > 14 && file.data()[0] == 0x80 && file.data()[2] == 0x8a && file.data()[3] == 10 &&
           std::string(reinterpret_cast<const char*>(file.data() + 4), 10) == kLegacyMagic;
}

PickleCheckpoint read_torch_legacy(std::shared_ptr<const MappedFile> file) {
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

    // Element sizes come from the storages the object referenced.
    std::map<std::string, size_t> elem_size;
    PickleCheckpoint out;
    out.container = "legacy";
    const PyObj* dict = unwrap(obj, &out.wrapper, path);
    for (const auto& kv : dict->dict)
        if (kv.second->kind == PyObj::Kind::kTensor)
            elem_size[kv.second->storage->storage_key] = dtype_size(kv.second->storage->dtype);

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
    out.tensors = collect_tensors(dict, file, [&](const PyObj& st) {
        auto it = data.find(st.storage_key);
        if (it == data.end()) throw_bad_file(path, "lacks the data of storage '" + st.storage_key + "'; the file is truncated.");
        return it->second;
    });
    return out;
}

}  // namespace sdgimp::io
