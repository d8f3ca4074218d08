// libFuzzer target: the JPEG / WebP EXIF UserComment reader on arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "io/exif_comment.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    (void)sdgimp::io::exif_user_comment(data, size);
    return 0;
}
