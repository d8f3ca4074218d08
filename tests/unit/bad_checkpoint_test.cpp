// Damaged and hostile checkpoint files give one clear sentence naming the file, never a crash,
// a hang or a huge allocation.
#include <gtest/gtest.h>

#include "io/checkpoint_file.h"
#include "status.h"
#include "support/zip_writer.h"

using namespace sdgimp;

namespace {

std::string load_error(const std::string& bytes, const std::string& name = "bad.ckpt") {
    try {
        io::read_checkpoint(io::MappedFile::from_bytes(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), name));
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::string safetensors(const std::string& header, const std::string& data) {
    std::string h = header;
    while (h.size() % 8) h.push_back(' ');
    std::string out;
    test::put_le(out, h.size(), 8);
    return out + h + data;
}

std::string in_zip(const std::string& pickle) {
    return test::make_zip({{"archive/data.pkl", pickle}, {"archive/version", "3\n"}});
}

}  // namespace

TEST(BadCheckpoint, ValidSafetensorsLoads) {
    std::string good = safetensors(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"z":{"dtype":"F32","shape":[],"data_offsets":[16,20]}})", std::string(20, '\0'));
    auto ck2 = io::read_checkpoint(io::MappedFile::from_bytes(reinterpret_cast<const uint8_t*>(good.data()), good.size(), "ok.safetensors"));
    EXPECT_EQ(ck2.tensors.size(), 2u);
    EXPECT_TRUE(ck2.tensors.at("z").shape.empty());
    EXPECT_EQ(ck2.metadata.at("format"), "pt");
}

TEST(BadCheckpoint, SafetensorsDamage) {
    const std::string data(16, '\0');
    EXPECT_NE(load_error(safetensors(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,32]}})", data)).find("past the end"), std::string::npos);
    EXPECT_NE(load_error(safetensors(R"({"a":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}})", data)).find("does not match"), std::string::npos);
    EXPECT_NE(load_error(safetensors(R"({"a":{"dtype":"Q4","shape":[2,2],"data_offsets":[0,16]}})", data)).find("unsupported dtype"), std::string::npos);
    EXPECT_NE(load_error(safetensors(R"({"a":{"dtype":"F32","shape":[-2,2],"data_offsets":[0,16]}})", data)).find("invalid shape"), std::string::npos);
    EXPECT_NE(load_error(safetensors(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[8,0]}})", data)).find("data_offsets"), std::string::npos);
    EXPECT_NE(load_error(safetensors(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", data)).find("bad.ckpt"), std::string::npos);
    // Header length past the end, and over the 100 MiB limit.
    std::string big;
    test::put_le(big, uint64_t(1) << 40, 8);
    big += "{}";
    EXPECT_NE(load_error(big).find("100 MiB"), std::string::npos);
    std::string trunc = safetensors(R"({"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", data);
    trunc.resize(20);
    EXPECT_NE(load_error(trunc).find("bad.ckpt"), std::string::npos);
    EXPECT_NE(load_error("abc").find("too short"), std::string::npos);
    EXPECT_NE(load_error("this is not a model file at all").find("bad.ckpt"), std::string::npos);
}

TEST(BadCheckpoint, PicklesThatWouldRunCode) {
    // os.system("ls")
    const std::string os_system = std::string("\x80\x02") + "cos\nsystem\nX\x02\x00\x00\x00lsq\x00\x85R.";
    std::string err = load_error(in_zip(os_system));
    EXPECT_NE(err.find("os.system"), std::string::npos) << err;
    EXPECT_NE(err.find("bad.ckpt"), std::string::npos) << err;
    // builtins.eval via STACK_GLOBAL
    const std::string eval = std::string("\x80\x04\x8c\x08") + "builtins" + "\x8c\x04" + "eval" + "\x93" + "\x8c\x01" + "1" + "\x85R.";
    err = load_error(in_zip(eval));
    EXPECT_NE(err.find("builtins.eval"), std::string::npos) << err;
    // __reduce__ of an arbitrary class (NEWOBJ)
    const std::string cls = std::string("\x80\x02") + "c__main__\nEvil\n)\x81.";
    err = load_error(in_zip(cls));
    EXPECT_NE(err.find("__main__.Evil"), std::string::npos) << err;
    // Extension registry and INST opcodes are refused outright.
    EXPECT_NE(load_error(in_zip(std::string("\x80\x02\x82\x01.", 5))).find("opcode"), std::string::npos);
    EXPECT_NE(load_error(in_zip("(ios\nsystem\n.")).find("opcode"), std::string::npos);
}

TEST(BadCheckpoint, MalformedPickles) {
    EXPECT_NE(load_error(in_zip("")).find("truncated"), std::string::npos);
    EXPECT_NE(load_error(in_zip(std::string("\x80\x02}q\x00(X\x01\x00\x00\x00", 10))).find("truncated"), std::string::npos);
    EXPECT_NE(load_error(in_zip("\x80\x02h\x05.")).find("never stored"), std::string::npos);
    EXPECT_NE(load_error(in_zip("\x80\x02s.")).find("empty stack"), std::string::npos);
    // A dict without tensors is not a checkpoint.
    EXPECT_NE(load_error(in_zip("\x80\x02}.")).find("no tensors"), std::string::npos);
    // Huge integer
    std::string longint = std::string("\x80\x02\x8b", 3);
    test::put_le(longint, 0x7fffffff, 4);
    EXPECT_NE(load_error(in_zip(longint)).find("integer"), std::string::npos);
}

TEST(BadCheckpoint, ZipDamageAndBombs) {
    // A compressed entry claiming 4 GiB: refused without inflating anything.
    std::string bomb = test::make_zip({{"archive/data.pkl", std::string(100, 'x'), 8, 0xFFFFFFF0u}});
    std::string err = load_error(bomb);
    EXPECT_NE(err.find("compressed"), std::string::npos) << err;
    std::string no_pkl = test::make_zip({{"archive/other", "x"}});
    EXPECT_NE(load_error(no_pkl).find("data.pkl"), std::string::npos);
    std::string cut = in_zip("\x80\x02}.");
    cut.resize(cut.size() - 10);
    EXPECT_NE(load_error(cut).find("bad.ckpt"), std::string::npos);
}

TEST(BadCheckpoint, TensorRecordPastItsStorage) {
    // {'w': _rebuild_tensor_v2(storage(float, key '0', numel 2), 0, (4,), (1,), False, OrderedDict())}
    // As torch.save writes it (protocol 2), built with stand-in classes of the same names.
    const std::string pkl(
        "\x80\x02\x7d\x71\x00\x58\x01\x00\x00\x00\x77\x71\x01\x63\x74\x6f\x72\x63\x68\x2e\x5f\x75\x74\x69\x6c\x73\x0a\x5f\x72\x65\x62\x75\x69\x6c\x64\x5f\x74\x65\x6e\x73\x6f\x72\x5f\x76\x32\x0a\x71\x02\x28\x28\x58\x07\x00\x00\x00\x73\x74\x6f\x72\x61\x67\x65\x71\x03"
        "\x63\x74\x6f\x72\x63\x68\x0a\x46\x6c\x6f\x61\x74\x53\x74\x6f\x72\x61\x67\x65\x0a\x71\x04\x58\x01\x00\x00\x00\x30\x71\x05\x58\x03\x00\x00\x00\x63\x70\x75\x71\x06\x4b\x02\x74\x71\x07\x51\x4b\x00\x4b\x04\x85\x71\x08\x4b\x01\x85\x71\x09\x89\x63\x63\x6f\x6c\x6c"
        "\x65\x63\x74\x69\x6f\x6e\x73\x0a\x4f\x72\x64\x65\x72\x65\x64\x44\x69\x63\x74\x0a\x71\x0a\x29\x52\x71\x0b\x74\x71\x0c\x52\x71\x0d\x73\x2e",
        162);
    std::string ok = test::make_zip({{"archive/data.pkl", pkl}, {"archive/data/0", std::string(8, '\0')}});
    std::string err = load_error(ok);
    EXPECT_NE(err.find("past the end"), std::string::npos) << err;
    std::string missing = test::make_zip({{"archive/data.pkl", pkl}});
    EXPECT_NE(load_error(missing).find("lacks the data"), std::string::npos);
}
