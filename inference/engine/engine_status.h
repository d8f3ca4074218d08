// The status the engine's edge returns: ok, or an error code with one user-facing sentence.
#pragma once

#include <string>

#include "../status.h"

namespace sdgimp {

struct Status {
    bool ok = true;
    ErrorCode code = ErrorCode::kInternal;
    std::string message;
    static Status success() { return {}; }
    static Status failure(ErrorCode c, std::string m) { return {false, c, std::move(m)}; }
};

}  // namespace sdgimp
