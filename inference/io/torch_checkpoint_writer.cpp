#include "torch_checkpoint_writer.h"

#include <cstdio>
#include <cstring>
#include <map>

#include <zlib.h>

#include "../status.h"

namespace sdgimp::io {
namespace {

struct DtypeInfo {
    const char* storage;  // torch's legacy storage class, which names the dtype in the pickle
    size_t size;
};

const std::map<std::string, DtypeInfo>& dtypes() {
    static const std::map<std::string, DtypeInfo> kDtypes = {
        {"F32", {"FloatStorage", 4}}, {"F16", {"HalfStorage", 2}}, {"BF16", {"BFloat16Storage", 2}},
        {"F64", {"DoubleStorage", 8}}, {"I64", {"LongStorage", 8}}, {"I32", {"IntStorage", 4}},
        {"I16", {"ShortStorage", 2}}, {"I8", {"CharStorage", 1}}, {"U8", {"ByteStorage", 1}},
        {"BOOL", {"BoolStorage", 1}}};
    return kDtypes;
}

void put_le(std::string& s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// The protocol-2 pickle of {name: tensor, ...} as torch.save writes a state dict's tensors.
class Pickler {
public:
    std::string dict_of_tensors(const std::vector<RawBytesTensor>& tensors, const StringLists& lists) {
        out_ = "\x80\x02}";
        if (!tensors.empty() || !lists.empty()) {
            out_ += '(';
            for (size_t k = 0; k < tensors.size(); ++k) {
                put_str(tensors[k].name);
                put_tensor(tensors[k], std::to_string(k));
            }
            for (const auto& [name, items] : lists) {
                put_str(name);
                out_ += ']';  // EMPTY_LIST
                if (!items.empty()) {
                    out_ += '(';
                    for (const auto& v : items) put_str(v);
                    out_ += 'e';  // APPENDS
                }
            }
            out_ += 'u';  // SETITEMS
        }
        out_ += '.';
        return std::move(out_);
    }

private:
    void put_str(const std::string& v) {
        out_ += 'X';  // BINUNICODE
        put_le(out_, v.size(), 4);
        out_ += v;
    }
    void put_int(int64_t v) {
        if (v >= INT32_MIN && v <= INT32_MAX) {
            out_ += 'J';  // BININT
            put_le(out_, static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
        } else {
            out_ += "\x8a\x08";  // LONG1, eight bytes of two's complement
            put_le(out_, static_cast<uint64_t>(v), 8);
        }
    }
    void put_ints(const std::vector<int64_t>& v) {
        out_ += '(';
        for (int64_t x : v) put_int(x);
        out_ += 't';
    }
    void put_tensor(const RawBytesTensor& t, const std::string& key) {
        const DtypeInfo& info = dtypes().at(t.dtype);
        std::vector<int64_t> stride(t.shape.size());
        int64_t n = 1;
        for (size_t d = t.shape.size(); d-- > 0;) {
            stride[d] = n;
            n *= t.shape[d];
        }
        // torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks), the
        // storage a persistent id ('storage', type, key, location, numel).
        out_ += "ctorch._utils\n_rebuild_tensor_v2\n((";
        put_str("storage");
        out_ += std::string("ctorch\n") + info.storage + "\n";
        put_str(key);
        put_str("cpu");
        put_int(n);
        out_ += "tQ";  // TUPLE, BINPERSID
        put_int(0);
        put_ints(t.shape);
        put_ints(stride);
        out_ += "\x89" "ccollections\nOrderedDict\n)Rt" "R";
    }
    std::string out_;
};

struct Record {
    std::string name;
    const uint8_t* data;
    uint64_t size;
};

constexpr uint64_t kMax32 = 0xFFFFFFFFull;
constexpr uint16_t kDosDate = (0 << 9) | (1 << 5) | 1;  // 1980-01-01, the zip epoch

class ZipFileWriter {
public:
    ZipFileWriter(const std::string& path, bool force_zip64) : path_(path), force_(force_zip64) {
        f_ = std::fopen(path.c_str(), "wb");
        if (!f_) throw Error(ErrorCode::kBadFile, "Cannot write " + path + "; check the folder exists and is writable.");
    }
    ~ZipFileWriter() {
        if (f_) std::fclose(f_);
    }

    void add(const Record& r) {
        uint32_t crc = static_cast<uint32_t>(crc32(0L, Z_NULL, 0));
        for (uint64_t done = 0; done < r.size;) {
            const uInt chunk = static_cast<uInt>(std::min<uint64_t>(r.size - done, 1u << 30));
            crc = static_cast<uint32_t>(crc32(crc, r.data + done, chunk));
            done += chunk;
        }
        const bool big = force_ || r.size >= kMax32 || pos_ >= kMax32;
        std::string head;
        put_le(head, 0x04034b50, 4);
        put_le(head, big ? 45 : 20, 2);
        put_le(head, 0, 2);  // flags
        put_le(head, 0, 2);  // stored
        put_le(head, 0, 2);
        put_le(head, kDosDate, 2);
        put_le(head, crc, 4);
        put_le(head, big ? kMax32 : r.size, 4);
        put_le(head, big ? kMax32 : r.size, 4);
        put_le(head, r.name.size(), 2);
        std::string extra;
        if (big) {
            put_le(extra, 0x0001, 2);
            put_le(extra, 16, 2);
            put_le(extra, r.size, 8);
            put_le(extra, r.size, 8);
        }
        // torch pads each record's start to 64 bytes with an extra field so it can be mapped.
        const uint64_t before = pos_ + 30 + r.name.size() + extra.size() + 4;
        const uint64_t pad = (64 - before % 64) % 64;
        put_le(extra, 0x4246, 2);  // "FB"
        put_le(extra, pad, 2);
        extra.append(pad, 'Z');
        put_le(head, extra.size(), 2);
        head += r.name;
        head += extra;
        Entry e{r.name, crc, r.size, pos_};
        write(head.data(), head.size());
        write(r.data, r.size);
        entries_.push_back(e);
    }

    void finish() {
        const uint64_t cd_offset = pos_;
        std::string cd;
        for (const Entry& e : entries_) {
            const bool big_size = force_ || e.size >= kMax32, big_offset = force_ || e.offset >= kMax32;
            std::string extra;
            if (big_size || big_offset) {
                std::string fields;
                if (big_size) put_le(fields, e.size, 8), put_le(fields, e.size, 8);
                if (big_offset) put_le(fields, e.offset, 8);
                put_le(extra, 0x0001, 2);
                put_le(extra, fields.size(), 2);
                extra += fields;
            }
            const bool big = !extra.empty();
            put_le(cd, 0x02014b50, 4);
            put_le(cd, big ? 45 : 20, 2);  // made by
            put_le(cd, big ? 45 : 20, 2);  // needed
            put_le(cd, 0, 2);
            put_le(cd, 0, 2);
            put_le(cd, 0, 2);
            put_le(cd, kDosDate, 2);
            put_le(cd, e.crc, 4);
            put_le(cd, big_size ? kMax32 : e.size, 4);
            put_le(cd, big_size ? kMax32 : e.size, 4);
            put_le(cd, e.name.size(), 2);
            put_le(cd, extra.size(), 2);
            put_le(cd, 0, 2);  // comment
            put_le(cd, 0, 2);  // disk
            put_le(cd, 0, 2);  // internal attributes
            put_le(cd, 0, 4);  // external attributes
            put_le(cd, big_offset ? kMax32 : e.offset, 4);
            cd += e.name;
            cd += extra;
        }
        write(cd.data(), cd.size());
        const uint64_t count = entries_.size(), cd_size = cd.size();
        const bool big = force_ || count >= 0xFFFF || cd_offset >= kMax32 || cd_size >= kMax32;
        std::string end;
        if (big) {
            const uint64_t record = pos_;
            put_le(end, 0x06064b50, 4);
            put_le(end, 44, 8);
            put_le(end, 45, 2);
            put_le(end, 45, 2);
            put_le(end, 0, 4);
            put_le(end, 0, 4);
            put_le(end, count, 8);
            put_le(end, count, 8);
            put_le(end, cd_size, 8);
            put_le(end, cd_offset, 8);
            put_le(end, 0x07064b50, 4);
            put_le(end, 0, 4);
            put_le(end, record, 8);
            put_le(end, 1, 4);
        }
        put_le(end, 0x06054b50, 4);
        put_le(end, 0, 2);
        put_le(end, 0, 2);
        put_le(end, big ? 0xFFFF : count, 2);
        put_le(end, big ? 0xFFFF : count, 2);
        put_le(end, big ? kMax32 : cd_size, 4);
        put_le(end, big ? kMax32 : cd_offset, 4);
        put_le(end, 0, 2);
        write(end.data(), end.size());
        const bool flushed = std::fflush(f_) == 0;
        const bool closed = std::fclose(f_) == 0;
        f_ = nullptr;
        if (!flushed || !closed) throw Error(ErrorCode::kBadFile, "Writing " + path_ + " failed; check the free disk space.");
    }

private:
    struct Entry {
        std::string name;
        uint32_t crc;
        uint64_t size, offset;
    };
    void write(const void* p, uint64_t n) {
        if (n && std::fwrite(p, 1, n, f_) != n) throw Error(ErrorCode::kBadFile, "Writing " + path_ + " failed; check the free disk space.");
        pos_ += n;
    }
    std::string path_;
    bool force_;
    FILE* f_ = nullptr;
    uint64_t pos_ = 0;
    std::vector<Entry> entries_;
};

}  // namespace

void write_torch_checkpoint(const std::string& path, const std::vector<RawBytesTensor>& tensors, bool force_zip64,
                            const StringLists& string_lists) {
    for (const auto& t : tensors) {
        const auto it = dtypes().find(t.dtype);
        if (it == dtypes().end()) throw Error(ErrorCode::kInternal, "Tensor \"" + t.name + "\" has dtype " + t.dtype + ", which torch.save has no storage for.");
        uint64_t n = 1;
        for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
        if (n * it->second.size != t.bytes)
            throw Error(ErrorCode::kInternal, "Tensor \"" + t.name + "\" has " + std::to_string(t.bytes) + " bytes but its shape needs " +
                                                  std::to_string(n * it->second.size) + ".");
    }
    const std::string pickle = Pickler().dict_of_tensors(tensors, string_lists);
    static const char kByteorder[] = "little", kVersion[] = "3\n";
    const std::string partial = path + ".partial";
    try {
        ZipFileWriter zip(partial, force_zip64);
        zip.add({"archive/data.pkl", reinterpret_cast<const uint8_t*>(pickle.data()), pickle.size()});
        zip.add({"archive/byteorder", reinterpret_cast<const uint8_t*>(kByteorder), std::strlen(kByteorder)});
        for (size_t k = 0; k < tensors.size(); ++k) zip.add({"archive/data/" + std::to_string(k), tensors[k].data, tensors[k].bytes});
        zip.add({"archive/version", reinterpret_cast<const uint8_t*>(kVersion), std::strlen(kVersion)});
        zip.finish();
    } catch (const Error&) {
        std::remove(partial.c_str());
        throw;
    }
    if (std::rename(partial.c_str(), path.c_str()) != 0) {
        std::remove(partial.c_str());
        throw Error(ErrorCode::kBadFile, "Cannot write " + path + "; check the folder is writable.");
    }
}

}  // namespace sdgimp::io
