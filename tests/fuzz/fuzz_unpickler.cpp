// libFuzzer target: the restricted unpickler, both as a legacy torch.save stream and as the
// data.pkl of a zip archive, as a checkpoint and as a whole object (hypernetworks), with every
// tensor it accepts read back.
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/checkpoint_file.h"
#include "io/pickle_reader.h"
#include "io/tensor_values.h"
#include "io/torch_pickle_checkpoint.h"
#include "status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        sdgimp::io::Unpickler up(data, size, "fuzz.pkl");
        (void)up.load();
    } catch (const sdgimp::Error&) {
    }
    try {
        auto ck = sdgimp::io::read_checkpoint(sdgimp::io::MappedFile::from_bytes(data, size, "fuzz.ckpt"));
        for (const auto& kv : ck.tensors)
            if (kv.second.numel() < 4096) (void)sdgimp::io::tensor_values(kv.second);
    } catch (const sdgimp::Error&) {
    }
    try {
        // The whole-object reading hypernetwork files go through.
        const auto tree = sdgimp::io::read_torch_tree(sdgimp::io::MappedFile::from_bytes(data, size, "fuzz.pt"));
        for (const auto& kv : tree.tensors)
            if (kv.second.numel() < 4096) (void)sdgimp::io::tensor_values(kv.second);
    } catch (const sdgimp::Error&) {
    }
    return 0;
}
