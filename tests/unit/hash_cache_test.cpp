// The model-hash cache: a stored hash is used only while the file's size and time match, a changed
// file is hashed again, and a damaged cache file is ignored and rewritten.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "io/hash_cache.h"
#include "io/mapped_file.h"

namespace {

using namespace sdgimp::io;

std::string slurp(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

class HashCache : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/gd-hash-cache-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        ::setenv("GIMP_DIFFUSION_CACHE", (dir_ + "/cache").c_str(), 1);
        file_ = dir_ + "/model.safetensors";
        std::ofstream(file_) << "abc";
    }
    void TearDown() override {
        ::unsetenv("GIMP_DIFFUSION_CACHE");
        (void)std::system(("rm -rf '" + dir_ + "'").c_str());
    }
    std::string hash() { return cached_sha256(*MappedFile::open(file_)); }
    std::string dir_, file_;
};

constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

TEST_F(HashCache, StoresAndReusesTheHashWhileTheFileIsUnchanged) {
    EXPECT_EQ(hash(), kAbc);
    EXPECT_EQ(hash_cache_path(), dir_ + "/cache/hashes.json");
    auto j = nlohmann::json::parse(slurp(hash_cache_path()));
    ASSERT_EQ(j.size(), 1u);
    auto& entry = j.begin().value();
    EXPECT_EQ(entry["sha256"], kAbc);
    // A planted value with the same stamp is returned: the file was not hashed again.
    const std::string planted(64, 'e');
    entry["sha256"] = planted;
    std::ofstream(hash_cache_path()) << j.dump();
    EXPECT_EQ(hash(), planted);
    // A changed file (size and time) is hashed again and the entry replaced.
    std::ofstream(file_, std::ios::app) << "d";
    EXPECT_EQ(hash(), "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
    EXPECT_EQ(nlohmann::json::parse(slurp(hash_cache_path())).begin().value()["sha256"],
              "88d4266fd4e6338d13b845fcf289579d209c897823b9217da3e161936f031589");
}

TEST_F(HashCache, DamagedCacheFilesAreIgnoredAndRewritten) {
    ::mkdir((dir_ + "/cache").c_str(), 0755);
    for (const char* bad : {"{not json", "[1,2,3]", "", "{\"x\": 5}"}) {
        std::ofstream(hash_cache_path()) << bad;
        EXPECT_EQ(hash(), kAbc) << bad;
        EXPECT_TRUE(nlohmann::json::parse(slurp(hash_cache_path())).is_object());
    }
    // An entry whose hash is not 64 hex digits is not believed.
    auto j = nlohmann::json::parse(slurp(hash_cache_path()));
    j.begin().value()["sha256"] = "../../etc/passwd";
    std::ofstream(hash_cache_path()) << j.dump();
    EXPECT_EQ(hash(), kAbc);
}

TEST_F(HashCache, AnUnwritableCacheOnlyCostsTheCache) {
    std::ofstream(dir_ + "/cache") << "a file where the folder should be";
    EXPECT_EQ(hash(), kAbc);
    EXPECT_EQ(hash(), kAbc);
}

}  // namespace
