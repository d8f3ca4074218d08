// A user's ESRGAN file: a small but complete RRDBNet loads and upscales, and every damaged variant
// (a convolution of the wrong shape, a missing bias, sizes no model has, a layer index past any
// integer) is refused at load with one sentence naming the file, never halfway through an upscale.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <string>

#include "io/safetensors_writer.h"
#include "support/tiny_esrgan.h"
#include "models/rrdbnet.h"
#include "status.h"

using namespace sdgimp;

namespace {

using test::Shapes;
using test::small_rrdbnet;

class EsrganFile : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/gd-esrgan-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        ::unlink(path().c_str());
        ::rmdir(dir_.c_str());
    }
    std::string path() const { return dir_ + "/user-model.safetensors"; }

    void write(const Shapes& shapes) { test::write_shapes(path(), shapes); }
    // The load error for `shapes`, "" when it loads.
    std::string load_error(const Shapes& shapes) {
        write(shapes);
        try {
            (void)models::RRDBNet::load(path());
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kBadFile) << e.what();
            return e.what();
        }
        return "";
    }

    std::string dir_;
};

}  // namespace

TEST_F(EsrganFile, SmallModelLoadsAndUpscales) {
    write(small_rrdbnet());
    const models::RRDBNet net = models::RRDBNet::load(path());
    EXPECT_EQ(net.scale(), 4);
    EXPECT_EQ(net.blocks(), 1);
    EXPECT_EQ(net.features(), 4);
    EXPECT_EQ(net.growth(), 2);
    const torch::Tensor out = net.forward_padded(torch::rand({1, 3, 6, 5}));
    EXPECT_EQ(out.sizes(), torch::IntArrayRef({1, 3, 24, 20}));
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
}

TEST_F(EsrganFile, DamagedFilesAreNamedAtLoad) {
    const std::vector<std::pair<std::string, std::function<void(Shapes&)>>> damage = {
        {"has body.0.rdb2.conv3 with weight [2, 7, 3, 3] and bias [2] where [2, 8, 3, 3] and [2] fit",
         [](Shapes& s) { s["body.0.rdb2.conv3.weight"] = {2, 7, 3, 3}; }},
        {"has conv_last with weight [3, 4, 3, 3] and bias missing where",
         [](Shapes& s) { s.erase("conv_last.bias"); }},
        {"has conv_last with weight [1, 4, 3, 3] and bias [1] where [3, 4, 3, 3]",
         [](Shapes& s) { s["conv_last.weight"] = {1, 4, 3, 3}; s["conv_last.bias"] = {1}; }},
        {"has conv_up1 with weight [4, 4, 1, 1]", [](Shapes& s) { s["conv_up1.weight"] = {4, 4, 1, 1}; }},
        {"has sizes no ESRGAN model has (1 blocks, 2 up-sampling stages, 4 features)",
         [](Shapes& s) { s["body.0.rdb1.conv1.weight"] = {2}; }},
        {"has sizes no ESRGAN model has (1 blocks, 5 up-sampling stages",
         [](Shapes& s) { for (int u = 3; u <= 5; ++u) s["conv_up" + std::to_string(u) + ".weight"] = {4, 4, 3, 3}; }},
        {"has a conv_first that is not a convolution", [](Shapes& s) { s["conv_first.weight"] = {4, 3}; }},
        {"has a conv_first of 0 features", [](Shapes& s) { s["conv_first.weight"] = {0, 3, 3, 3}; }},
        {"takes 5 input channels", [](Shapes& s) { s["conv_first.weight"] = {4, 5, 3, 3}; }},
        {"is not an ESRGAN/RRDBNet model (no conv_hr.weight)", [](Shapes& s) { s.erase("conv_hr.weight"); }},
    };
    for (const auto& [expected, edit] : damage) {
        SCOPED_TRACE(expected);
        Shapes s = small_rrdbnet();
        edit(s);
        const std::string e = load_error(s);
        EXPECT_EQ(e.rfind(path() + ": ", 0), 0u) << e;
        EXPECT_NE(e.find(expected), std::string::npos) << e;
    }
}

TEST_F(EsrganFile, OldLayoutWithAnIndexPastAnyIntegerIsRefusedNotThrownThrough) {
    // The 2018 "model.N" layout, with a tail index no integer holds: the key is dropped, and the
    // file is then named as incomplete instead of std::stoi's out_of_range escaping.
    Shapes s;
    s["model.0.weight"] = {4, 3, 3, 3};
    s["model.0.bias"] = {4};
    s["model.99999999999999999999.weight"] = {3, 4, 3, 3};
    s["model.1.sub.0.RDB1.conv1.0.weight"] = {2, 4, 3, 3};
    const std::string e = load_error(s);
    EXPECT_EQ(e.rfind(path() + ": ", 0), 0u) << e;
}
