#include "zip_reader.h"

#include "../status.h"

namespace sdgimp::io {
namespace {

constexpr uint32_t kEocdSig = 0x06054b50, kEocd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr uint32_t kCentralSig = 0x02014b50, kLocalSig = 0x04034b50;
constexpr uint64_t kMaxEntries = 1u << 22;

uint64_t le(const uint8_t* p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

bool ZipReader::looks_like_zip(const MappedFile& file) {
    return file.size() >= 22 && le(file.data(), 4) == kLocalSig;
}

ZipReader::ZipReader(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {
    const std::string& path = file_->path();
    const uint8_t* d = file_->data();
    const uint64_t n = file_->size();
    auto corrupt = [&](const std::string& why) { throw_bad_file(path, "is a damaged zip archive (" + why + "); download it again."); };
    if (n < 22) corrupt("too short");
    // The end-of-directory record sits in the last 22 + 65535 bytes.
    uint64_t eocd = UINT64_MAX;
    const uint64_t lowest = n > 22 + 65535 ? n - 22 - 65535 : 0;
    for (uint64_t p = n - 22 + 1; p-- > lowest;) {
        if (le(d + p, 4) == kEocdSig) { eocd = p; break; }
    }
    if (eocd == UINT64_MAX) corrupt("no end-of-directory record");
    uint64_t count = le(d + eocd + 10, 2);
    uint64_t cd_size = le(d + eocd + 12, 4);
    uint64_t cd_off = le(d + eocd + 16, 4);
    if (eocd >= 20 && le(d + eocd - 20, 4) == kLocator64Sig) {
        const uint64_t e64 = le(d + eocd - 20 + 8, 8);
        if (e64 > n - 56 || le(d + e64, 4) != kEocd64Sig) corrupt("bad ZIP64 end record");
        count = le(d + e64 + 32, 8);
        cd_size = le(d + e64 + 40, 8);
        cd_off = le(d + e64 + 48, 8);
    }
    if (count > kMaxEntries) corrupt("too many entries");
    if (cd_off > n || cd_size > n - cd_off) corrupt("directory outside the file");
    uint64_t p = cd_off;
    const uint64_t cd_end = cd_off + cd_size;
    for (uint64_t i = 0; i < count; ++i) {
        if (p + 46 > cd_end || le(d + p, 4) != kCentralSig) corrupt("bad directory entry");
        const uint16_t method = static_cast<uint16_t>(le(d + p + 10, 2));
        uint64_t csize = le(d + p + 20, 4), usize = le(d + p + 24, 4);
        const uint64_t name_len = le(d + p + 28, 2), extra_len = le(d + p + 30, 2), comment_len = le(d + p + 32, 2);
        uint64_t local = le(d + p + 42, 4);
        if (p + 46 + name_len + extra_len + comment_len > cd_end) corrupt("directory entry overruns");
        std::string name(reinterpret_cast<const char*>(d + p + 46), name_len);
        // ZIP64 extra field: the 64-bit values appear only for the fields saturated at 0xFFFFFFFF.
        for (uint64_t x = p + 46 + name_len; x + 4 <= p + 46 + name_len + extra_len;) {
            const uint64_t id = le(d + x, 2), len = le(d + x + 2, 2);
            if (x + 4 + len > p + 46 + name_len + extra_len) corrupt("bad extra field");
            if (id == 1) {
                uint64_t q = x + 4, qend = x + 4 + len;
                if (usize == 0xFFFFFFFFu && q + 8 <= qend) { usize = le(d + q, 8); q += 8; }
                if (csize == 0xFFFFFFFFu && q + 8 <= qend) { csize = le(d + q, 8); q += 8; }
                if (local == 0xFFFFFFFFu && q + 8 <= qend) { local = le(d + q, 8); q += 8; }
            }
            x += 4 + len;
        }
        if (local > n - 30 || le(d + local, 4) != kLocalSig) corrupt("bad local header for " + name);
        const uint64_t data = local + 30 + le(d + local + 26, 2) + le(d + local + 28, 2);
        if (data > n || csize > n - data) corrupt("entry " + name + " runs past the end of the file");
        if (method == 0 && csize != usize) corrupt("stored entry " + name + " with mismatched sizes");
        ZipEntry e;
        e.data_offset = data;
        e.size = method == 0 ? usize : csize;
        e.method = method;
        entries_[name] = e;
        p += 46 + name_len + extra_len + comment_len;
    }
}

const ZipEntry* ZipReader::find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
}

const uint8_t* ZipReader::data(const ZipEntry& e, const std::string& name) const {
    if (e.method != 0)
        throw_bad_file(file_->path(), "entry '" + name +
                                          "' is compressed, which torch.save never does; re-save the checkpoint with torch.save or as .safetensors.");
    return file_->data() + e.data_offset;
}

}  // namespace sdgimp::io
