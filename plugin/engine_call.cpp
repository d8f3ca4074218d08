#include "engine_call.h"

#include <libgimp/gimp.h>
#include <unistd.h>

#include "client/engine_client.h"
#include "settings.h"

namespace sdgimp::plugin {

Status call_engine(const wire::Message& request, const std::string& label, wire::Message* result) {
    // One engine per GIMP session: the plug-in's parent is GIMP itself.
    const int gimp_pid = static_cast<int>(getppid());
    client::ClientConfig cfg;
    cfg.engine_path = engine_program();
    cfg.socket_path = client::default_socket_path(gimp_pid);
    cfg.parent_pid = gimp_pid;
    client::EngineClient client(cfg);
    gimp_progress_init(label.c_str());
    const Status st = client.call(request,
                                  [&](const wire::Message& ev) {
                                      if (ev.header.value("event", "") != "progress") return;
                                      const int done = ev.header.value("done", 0), total = ev.header.value("total", 1);
                                      gimp_progress_update(total > 0 ? static_cast<double>(done) / total : 0.0);
                                      gimp_progress_set_text_printf("%s: step %d/%d", label.c_str(), done, total);
                                  },
                                  {}, result);
    gimp_progress_end();
    if (st.ok)
        g_printerr("gimp-diffusion: %s done (engine model loads: %d)\n", label.c_str(),
                   result->header.value("model_loads", -1));
    return st;
}

}  // namespace sdgimp::plugin
