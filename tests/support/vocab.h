// The CLIP vocabulary the tests use: $GIMP_DIFFUSION_VOCAB or ../shared/vocab beside the oracle.
#pragma once

#include <cstdlib>
#include <string>

#include "oracle.h"

namespace sdgimp::test {

inline std::string vocab_path() {
    if (const char* e = std::getenv("GIMP_DIFFUSION_VOCAB"); e && *e) return e;
    return oracle_dir() + "/../vocab/bpe_simple_vocab_16e6.txt.gz";
}

}  // namespace sdgimp::test
