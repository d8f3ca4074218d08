#include "engine_job.h"

#include <glib.h>

namespace sdgimp::dialogs {
namespace {

// Hands a closure to the GTK main loop.
void post(std::function<void()> fn) {
    auto* heap = new std::function<void()>(std::move(fn));
    g_idle_add_full(G_PRIORITY_DEFAULT, [](gpointer p) -> gboolean {
        (*static_cast<std::function<void()>*>(p))();
        return G_SOURCE_REMOVE;
    }, heap, [](gpointer p) { delete static_cast<std::function<void()>*>(p); });
}

}  // namespace

EngineJob::EngineJob(EngineCall call, wire::Message request, EventFn on_event, DoneFn on_done)
    : cancelled_(std::make_shared<std::atomic<bool>>(false)), finished_(std::make_shared<std::atomic<bool>>(false)) {
    worker_ = std::thread([call = std::move(call), request = std::move(request), on_event, on_done,
                           cancelled = cancelled_, finished = finished_] {
        wire::Message result;
        const Status st = call(request, [&](const wire::Message& ev) { post([on_event, ev] { on_event(ev); }); },
                               [cancelled] { return cancelled->load(); }, &result);
        post([on_done, st, result = std::move(result), finished] {
            finished->store(true);
            on_done(st, result);
        });
    });
}

EngineJob::~EngineJob() {
    cancel();
    if (worker_.joinable()) worker_.join();
}

}  // namespace sdgimp::dialogs
