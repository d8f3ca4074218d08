// Runs one engine request on a worker thread so the dialog stays responsive; progress, previews
// and the result come back on the GTK main loop.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "engine/engine_status.h"
#include "wire.h"

namespace sdgimp::dialogs {

// Blocking engine call (the plug-in passes its EngineClient; tests may pass anything).
using EngineCall = std::function<Status(const wire::Message& request, const std::function<void(const wire::Message&)>& on_event,
                                        const std::function<bool()>& cancelled, wire::Message* result)>;

class EngineJob {
public:
    using EventFn = std::function<void(const wire::Message& event)>;
    using DoneFn = std::function<void(const Status& status, const wire::Message& result)>;

    // on_event and on_done run on the main loop.
    EngineJob(EngineCall call, wire::Message request, EventFn on_event, DoneFn on_done);
    ~EngineJob();  // waits for the worker

    void cancel() { cancelled_->store(true); }
    bool running() const { return !finished_->load(); }

private:
    std::shared_ptr<std::atomic<bool>> cancelled_, finished_;
    std::thread worker_;
};

}  // namespace sdgimp::dialogs
