#include "engine_client.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace sdgimp::client {

std::string default_socket_path(int session_pid) {
    const char* dir = std::getenv("XDG_RUNTIME_DIR");
    std::string base = dir && *dir ? dir : "/tmp";
    return base + "/gimp-diffusion-" + std::to_string(getuid()) + "-" + std::to_string(session_pid) + ".sock";
}

EngineClient::EngineClient(ClientConfig cfg) : cfg_(std::move(cfg)) { std::signal(SIGPIPE, SIG_IGN); }

EngineClient::~EngineClient() {
    if (fd_ >= 0) ::close(fd_);
}

int EngineClient::connect_socket() const {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (cfg_.socket_path.size() >= sizeof addr.sun_path) return -1;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", cfg_.socket_path.c_str());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

void EngineClient::start_engine() const {
    // Double fork: the engine outlives this plug-in call and is not our zombie.
    const pid_t child = ::fork();
    if (child < 0) return;
    if (child == 0) {
        ::setsid();
        if (::fork() != 0) ::_exit(0);
        const int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) ::dup2(devnull, 0);
        for (int fd = 3; fd < 1024; ++fd) ::close(fd);
        const std::string parent = std::to_string(cfg_.parent_pid);
        ::execl(cfg_.engine_path.c_str(), cfg_.engine_path.c_str(), "serve", "--socket", cfg_.socket_path.c_str(),
                "--parent-pid", parent.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    int st = 0;
    ::waitpid(child, &st, 0);
}

bool EngineClient::ensure_connected(Status* why) {
    if (fd_ >= 0) return true;
    fd_ = connect_socket();
    if (fd_ >= 0) return true;
    if (::access(cfg_.engine_path.c_str(), X_OK) != 0) {
        *why = Status::failure(ErrorCode::kBackendUnavailable,
                               "The engine program " + cfg_.engine_path + " is missing; reinstall GIMP Diffusion (install/setup.sh).");
        return false;
    }
    start_engine();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg_.start_timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        fd_ = connect_socket();
        if (fd_ >= 0) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    *why = Status::failure(ErrorCode::kBackendUnavailable,
                           "The engine did not start within " + std::to_string(cfg_.start_timeout_ms / 1000) +
                               " s; run gimp-diffusion-cli serve by hand to see why.");
    return false;
}

Status EngineClient::call(const wire::Message& request, const EventFn& on_event, const CancelFn& cancelled,
                          wire::Message* result) {
    Status why;
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (!ensure_connected(&why)) return why;
        try {
            wire::send_message(fd_, request);
        } catch (const Error&) {
            // A stale connection or a socket left by a dead engine: start over once.
            ::close(fd_);
            fd_ = -1;
            if (attempt == 0) {
                ::unlink(cfg_.socket_path.c_str());
                continue;
            }
            return Status::failure(ErrorCode::kBackendUnavailable, "The engine does not accept requests; try again.");
        }
        break;
    }
    bool cancel_sent = false;
    try {
        while (true) {
            if (!cancel_sent && cancelled && cancelled()) {
                wire::Message c;
                c.header = {{"op", "cancel"}};
                wire::send_message(fd_, c);
                cancel_sent = true;
            }
            if (!wire::readable(fd_, 100)) continue;
            wire::Message ev;
            if (!wire::recv_message(fd_, &ev)) throw Error(ErrorCode::kBackendUnavailable, "closed");
            const std::string kind = ev.header.value("event", "");
            if (kind == "progress" || kind == "preview") {
                if (on_event) on_event(ev);
                continue;
            }
            if (kind == "error") {
                const std::string code = ev.header.value("code", "");
                ErrorCode c = ErrorCode::kInternal;
                for (ErrorCode k : {ErrorCode::kInvalidRequest, ErrorCode::kModelNotFound, ErrorCode::kBadFile,
                                    ErrorCode::kModelMismatch, ErrorCode::kOutOfMemory, ErrorCode::kBackendUnavailable,
                                    ErrorCode::kCancelled, ErrorCode::kInternal})
                    if (code == error_code_name(k)) c = k;
                return Status::failure(c, ev.header.value("message", "The engine failed."));
            }
            *result = std::move(ev);
            return Status::success();
        }
    } catch (const Error&) {
        ::close(fd_);
        fd_ = -1;
        ::unlink(cfg_.socket_path.c_str());
        return Status::failure(ErrorCode::kBackendUnavailable,
                               "The engine stopped unexpectedly; your image is unchanged and the next run starts a fresh engine.");
    }
}

}  // namespace sdgimp::client
