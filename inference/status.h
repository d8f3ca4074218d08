// Errors inside the engine are exceptions carrying a code and one user-facing sentence;
// the engine edge (engine.h, CLI, plug-in) turns them into statuses.
#pragma once

#include <stdexcept>
#include <string>

namespace sdgimp {

enum class ErrorCode {
    kInvalidRequest,
    kModelNotFound,
    kBadFile,
    kModelMismatch,
    kOutOfMemory,
    kBackendUnavailable,
    kCancelled,
    kInternal,
};

const char* error_code_name(ErrorCode code);

class Error : public std::runtime_error {
public:
    Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
    ErrorCode code() const { return code_; }

private:
    ErrorCode code_;
};

// Thrown by a progress callback to stop a run within one step.
class Cancelled : public Error {
public:
    Cancelled() : Error(ErrorCode::kCancelled, "The run was cancelled.") {}
};

// A file that cannot be read as what it claims to be: "<file>: <problem>".
[[noreturn]] void throw_bad_file(const std::string& path, const std::string& problem);

}  // namespace sdgimp
