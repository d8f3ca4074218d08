// The one sentence a call refuses with, for tests that compare it word for word.
#pragma once

#include <functional>
#include <string>

#include "status.h"

namespace sdgimp::test {

// What the sdgimp::Error thrown by f says, or "" when f returns.
inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace sdgimp::test
