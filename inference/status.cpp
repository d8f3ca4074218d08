#include "status.h"

namespace sdgimp {

const char* error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::kInvalidRequest: return "invalid-request";
        case ErrorCode::kModelNotFound: return "model-not-found";
        case ErrorCode::kBadFile: return "bad-file";
        case ErrorCode::kModelMismatch: return "model-mismatch";
        case ErrorCode::kOutOfMemory: return "out-of-memory";
        case ErrorCode::kBackendUnavailable: return "backend-unavailable";
        case ErrorCode::kCancelled: return "cancelled";
        case ErrorCode::kInternal: return "internal";
    }
    return "unknown";
}

void throw_bad_file(const std::string& path, const std::string& problem) {
    throw Error(ErrorCode::kBadFile, path + ": " + problem);
}

}  // namespace sdgimp
