// libFuzzer target: the safetensors header parser on arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "io/safetensors_reader.h"
#include "io/tensor_values.h"
#include "status.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        auto file = sdgimp::io::MappedFile::from_bytes(data, size, "fuzz.safetensors");
        auto st = sdgimp::io::read_safetensors(file);
        for (const auto& kv : st.tensors)
            if (kv.second.numel() < 4096) (void)sdgimp::io::tensor_values(kv.second);
    } catch (const sdgimp::Error&) {
    }
    return 0;
}
