// A1111's get_closet_checkpoint_match (Prompts from file's --sd_model, X/Y plot's "Checkpoint
// name"): exact names and hashes first, then the shortest title containing the text, then the text
// without a trailing " [checksum]". The files' hashes are CPython's hashlib results for their bytes.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "checkpoint_match.h"
#include "io/hash_cache.h"
#include "io/mapped_file.h"

namespace {

using namespace sdgimp;

class CheckpointMatch : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/gd-ckpt-match-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir = tmpl;
        const char* old = std::getenv("GIMP_DIFFUSION_CACHE");
        saved_cache = old ? old : "";
        had_cache = old != nullptr;
        ::setenv("GIMP_DIFFUSION_CACHE", dir.c_str(), 1);
        const char* names[3] = {"v1-5-pruned-emaonly.safetensors", "v1-5-pruned.ckpt", "sd21.safetensors"};
        for (int k = 0; k < 3; ++k) {
            // Past A1111's old hash window (64 KiB at 1 MiB).
            std::string bytes(0x100000 + 0x10000 + 100, '\0');
            for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 7 + k * 13) % 251);
            paths.push_back(dir + "/" + names[k]);
            std::ofstream(paths.back(), std::ios::binary) << bytes;
        }
    }
    void TearDown() override {
        for (const auto& p : paths) ::unlink(p.c_str());
        ::unlink(io::hash_cache_path().c_str());
        ::rmdir(dir.c_str());
        if (had_cache) ::setenv("GIMP_DIFFUSION_CACHE", saved_cache.c_str(), 1);
        else ::unsetenv("GIMP_DIFFUSION_CACHE");
    }
    std::string dir, saved_cache;
    bool had_cache = false;
    std::vector<std::string> paths;
};

TEST_F(CheckpointMatch, NamesAndTitlesAsA1111HasThem) {
    const CheckpointNames first = checkpoint_names(paths[0]);
    EXPECT_EQ(first.name, "v1-5-pruned-emaonly.safetensors");
    EXPECT_EQ(first.old_hash, "b45bed65");
    EXPECT_EQ(first.sha256, "");  // never hashed: no shorthash, as A1111 before its first load
    EXPECT_EQ(first.title(), "v1-5-pruned-emaonly.safetensors");
    // Hashed once (a load), its SHA-256 is remembered and its title carries the shorthash.
    (void)io::cached_sha256(*io::MappedFile::open(paths[2]));
    const CheckpointNames third = checkpoint_names(paths[2]);
    EXPECT_EQ(third.sha256, "004f05e0eb6b20a4008e437291828b06ba6d2600fc41db10c0511db9cf48d209");
    EXPECT_EQ(third.title(), "sd21.safetensors [004f05e0eb]");
    EXPECT_EQ(checkpoint_names(dir + "/gone.ckpt").old_hash, "");
}

TEST_F(CheckpointMatch, ExactNamesThenShortestTitleThenWithoutChecksum) {
    (void)io::cached_sha256(*io::MappedFile::open(paths[2]));
    auto find = [&](const std::string& s) { return closest_checkpoint(paths, s); };
    // Exact ids: the file name without and with its extension, the old hash and "name [old hash]".
    EXPECT_EQ(find("v1-5-pruned"), paths[1]);  // also inside the other title, but an exact name
    EXPECT_EQ(find("v1-5-pruned-emaonly"), paths[0]);
    EXPECT_EQ(find("v1-5-pruned.ckpt"), paths[1]);
    EXPECT_EQ(find("e5fd7299"), paths[1]);
    EXPECT_EQ(find("v1-5-pruned.ckpt [e5fd7299]"), paths[1]);
    // A hashed file's shorthash, full SHA-256 and titles.
    EXPECT_EQ(find("004f05e0eb"), paths[2]);
    EXPECT_EQ(find("004f05e0eb6b20a4008e437291828b06ba6d2600fc41db10c0511db9cf48d209"), paths[2]);
    EXPECT_EQ(find("sd21 [004f05e0eb]"), paths[2]);
    EXPECT_EQ(find("sd21.safetensors [004f05e0eb]"), paths[2]);
    // Part of a title: the shortest title holding it.
    EXPECT_EQ(find("v1-5"), paths[1]);
    EXPECT_EQ(find("emaonly"), paths[0]);
    EXPECT_EQ(find("[004f0"), paths[2]);
    // A checksum that fits no file is taken off (A1111's re_strip_checksum).
    EXPECT_EQ(find("v1-5-pruned-emaonly [6ce0161689]"), paths[0]);
    EXPECT_EQ(find("sd21 [0123456789]  "), paths[2]);
    // Nothing: unknown, empty, another case (A1111 compares exactly).
    EXPECT_EQ(find("missing"), "");
    EXPECT_EQ(find(""), "");
    EXPECT_EQ(find("V1-5"), "");
    EXPECT_EQ(find("[]"), "");
}

}  // namespace
