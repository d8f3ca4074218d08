// A1111's model hashes over files rebuilt from each case's recipe (text/model_hashes.json).
#include <gtest/gtest.h>

#include "io/mapped_file.h"
#include "io/model_hash.h"
#include "support/oracle.h"

using namespace sdgimp;

namespace {

std::string hex(const uint8_t* p, size_t n) {
    static const char* k = "0123456789abcdef";
    std::string s;
    for (size_t i = 0; i < n; ++i) { s.push_back(k[p[i] >> 4]); s.push_back(k[p[i] & 15]); }
    return s;
}

// The recipe: byte i = (i * mul + add) mod 251, optionally overwritten by a safetensors header.
std::string build(const nlohmann::json& r) {
    const size_t size = r["size"].get<size_t>();
    const uint64_t mul = r["mul"].get<uint64_t>(), add = r["add"].get<uint64_t>();
    std::string b(size, '\0');
    for (size_t i = 0; i < size; ++i) b[i] = static_cast<char>((i * mul + add) % 251);
    if (r.contains("safetensors_header")) {
        const auto& h = r["safetensors_header"];
        const uint64_t len = h["length"].get<uint64_t>();
        std::string json = h["json_padded_with_spaces"].get<std::string>();
        json.resize(len, ' ');
        for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((len >> (8 * i)) & 0xff);
        b.replace(8, len, json);
    }
    return b;
}

}  // namespace

TEST(OracleText, ModelHashes) {
    const nlohmann::json data = test::read_json(test::oracle_dir() + "/text/model_hashes.json");
    ASSERT_FALSE(data["cases"].empty());
    for (const auto& c : data["cases"]) {
        SCOPED_TRACE(c["id"].get<std::string>());
        const std::string bytes = build(c["recipe"]);
        auto f = io::MappedFile::from_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "case");
        ASSERT_EQ(hex(f->data(), 16), c["check"]["first_16_bytes_hex"].get<std::string>());
        ASSERT_EQ(hex(f->data() + f->size() - 16, 16), c["check"]["last_16_bytes_hex"].get<std::string>());
        io::ModelHashes h = io::compute_model_hashes(*f);
        EXPECT_EQ(h.sha256, c["sha256"].get<std::string>());
        EXPECT_EQ(h.shorthash, c["shorthash"].get<std::string>());
        EXPECT_EQ(h.old_hash, c["old_model_hash"].get<std::string>());
        if (c["addnet_hash"].is_null()) {
            EXPECT_FALSE(h.addnet_hash.has_value());
        } else {
            ASSERT_TRUE(h.addnet_hash.has_value());
            EXPECT_EQ(*h.addnet_hash, c["addnet_hash"].get<std::string>());
        }
    }
}
