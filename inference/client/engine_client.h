// The plug-in's side of the resident engine: finds or starts `gimp-diffusion-cli serve` for this
// GIMP session, sends one request, relays progress/preview events and cancels on request. If the
// engine died (even in a crash) the next call simply starts a fresh one.
#pragma once

#include <functional>
#include <string>

#include "../engine/engine_status.h"
#include "../wire.h"

namespace sdgimp::client {

struct ClientConfig {
    std::string engine_path;  // the gimp-diffusion-cli binary
    std::string socket_path;
    int parent_pid = 0;       // the engine exits when this process (GIMP) is gone
    int start_timeout_ms = 60000;
};

// $XDG_RUNTIME_DIR (or /tmp)/gimp-diffusion-<uid>-<session>.sock
std::string default_socket_path(int session_pid);

using EventFn = std::function<void(const wire::Message& event)>;
using CancelFn = std::function<bool()>;

class EngineClient {
public:
    explicit EngineClient(ClientConfig cfg);
    ~EngineClient();
    EngineClient(const EngineClient&) = delete;
    EngineClient& operator=(const EngineClient&) = delete;

    // Sends `request` and waits for its final event ("error" becomes a failed Status; anything
    // else is returned in *result). Progress and preview events go to on_event.
    Status call(const wire::Message& request, const EventFn& on_event, const CancelFn& cancelled, wire::Message* result);

private:
    int connect_socket() const;
    void start_engine() const;
    bool ensure_connected(Status* why);

    ClientConfig cfg_;
    int fd_ = -1;
};

}  // namespace sdgimp::client
