// gimp-diffusion-cli serve: the resident engine. One process per GIMP session keeps the model
// loaded between plug-in calls; the plug-in talks to it over a UNIX socket (see wire.h), so a
// crash here costs one call, never the GIMP session or the image.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../engine/checkpoint_merger.h"
#include "../engine/engine.h"
#include "../wire.h"
#include "cli_commands.h"
#include "cli_options.h"

namespace sdgimp::cli {
namespace {

// The run's progress as events to the client.
std::function<void(int, int)> progress_events(int fd) {
    return [fd](int done, int total) {
        wire::Message m;
        m.header = {{"event", "progress"}, {"done", done}, {"total", total}};
        wire::send_message(fd, m);
    };
}

// Polled by a run: a cancel message, or the client going away, stops it (*cancelled remembers).
std::function<bool()> cancel_watch(int fd, bool* cancelled) {
    return [fd, cancelled] {
        if (!*cancelled && wire::readable(fd, 0)) {
            wire::Message in;
            if (!wire::recv_message(fd, &in) || in.header.value("op", "") == "cancel") *cancelled = true;
        }
        return *cancelled;
    };
}

ModelRequest model_from(const nlohmann::json& h) {
    ModelRequest m;
    if (!h.contains("model") || !h["model"].is_object())
        throw Error(ErrorCode::kInvalidRequest, "The request names no model.");
    const auto& j = h["model"];
    m.path = j.value("path", "");
    m.prediction = j.value("prediction", "");
    m.precision = j.value("precision", "float32");
    m.device = j.value("device", "cpu");
    m.vocab = j.value("vocab", "");
    m.vae = j.value("vae", "");
    if (j.contains("lora_dirs") && j["lora_dirs"].is_array())
        for (const auto& d : j["lora_dirs"])
            if (d.is_string()) m.lora_dirs.push_back(d.get<std::string>());
    if (j.contains("upscaler_dirs") && j["upscaler_dirs"].is_array())
        for (const auto& d : j["upscaler_dirs"])
            if (d.is_string()) m.upscaler_dirs.push_back(d.get<std::string>());
    if (j.contains("face_restoration_dirs") && j["face_restoration_dirs"].is_array())
        for (const auto& d : j["face_restoration_dirs"])
            if (d.is_string()) m.face_restoration_dirs.push_back(d.get<std::string>());
    if (j.contains("hypernetwork_dirs") && j["hypernetwork_dirs"].is_array())
        for (const auto& d : j["hypernetwork_dirs"])
            if (d.is_string()) m.hypernetwork_dirs.push_back(d.get<std::string>());
    if (j.contains("taesd_dirs") && j["taesd_dirs"].is_array())
        for (const auto& d : j["taesd_dirs"])
            if (d.is_string()) m.taesd_dirs.push_back(d.get<std::string>());
    if (j.contains("vae_approx_dirs") && j["vae_approx_dirs"].is_array())
        for (const auto& d : j["vae_approx_dirs"])
            if (d.is_string()) m.vae_approx_dirs.push_back(d.get<std::string>());
    if (j.contains("embedding_dirs") && j["embedding_dirs"].is_array())
        for (const auto& d : j["embedding_dirs"])
            if (d.is_string()) m.embedding_dirs.push_back(d.get<std::string>());
    if (m.path.empty()) throw Error(ErrorCode::kModelNotFound, "No checkpoint is chosen; pick a model file first.");
    return m;
}

DeepBooruSettings deepbooru_settings(const nlohmann::json& h) {
    DeepBooruSettings s;
    s.options = wire::deepbooru_options_from(h);
    if (h.contains("model_dirs") && h["model_dirs"].is_array())
        for (const auto& d : h["model_dirs"])
            if (d.is_string()) s.model_dirs.push_back(d.get<std::string>());
    return s;
}

wire::Message error_message(const Status& st) {
    wire::Message m;
    m.header = {{"event", "error"}, {"code", error_code_name(st.code)}, {"message", st.message}};
    return m;
}

wire::Message info_message(const char* event, const LoadedModel& info, const Engine& engine) {
    wire::Message m;
    m.header = {{"event", event}, {"path", info.path}, {"kind", info.kind}, {"hash", info.hash}, {"name", info.name},
                {"default_size", info.default_size}, {"model_loads", engine.model_loads()}};
    return m;
}

// Serves one connection until the client closes it. Returns false when asked to shut down.
bool serve_connection(int fd, Engine& engine) {
    wire::Message req;
    while (true) {
        try {
            if (!wire::recv_message(fd, &req)) return true;
        } catch (const Error&) {
            return true;  // a broken client; drop it
        }
        const std::string op = req.header.value("op", "");
        try {
            if (op == "ping") {
                wire::Message m;
                m.header = {{"event", "pong"}, {"pid", static_cast<int>(getpid())}, {"model_loads", engine.model_loads()},
                            {"has_model", engine.has_model()}};
                wire::send_message(fd, m);
            } else if (op == "shutdown") {
                wire::Message m;
                m.header = {{"event", "bye"}};
                wire::send_message(fd, m);
                return false;
            } else if (op == "crash-for-test" && std::getenv("GIMP_DIFFUSION_ALLOW_TEST_CRASH")) {
                std::abort();
            } else if (op == "unload") {
                engine.unload();
                wire::Message m;
                m.header = {{"event", "unloaded"}};
                wire::send_message(fd, m);
            } else if (op == "load") {
                LoadedModel info;
                Status st = guarded([&] {
                    Status s = engine.load_model(model_from(req.header), &info);
                    if (!s.ok) throw Error(s.code, s.message);
                });
                wire::send_message(fd, st.ok ? info_message("loaded", info, engine) : error_message(st));
            } else if (op == "upscale") {
                Image out;
                RunCallbacks cb;
                cb.progress = progress_events(fd);
                Status st = guarded([&] {
                    if (!req.header.contains("image")) throw Error(ErrorCode::kInvalidRequest, "upscale needs an image.");
                    Status s = engine.upscale(wire::image_from(req.header["image"], req), req.header.value("upscaler", "ESRGAN thick"),
                                              req.header.value("scale", 4.0), cb, &out, req.header.value("ldsr_steps", 100));
                    if (!s.ok) throw Error(s.code, s.message);
                });
                if (!st.ok) {
                    wire::send_message(fd, error_message(st));
                    continue;
                }
                wire::Message m;
                m.header = {{"event", "result"}, {"model_loads", engine.model_loads()}};
                m.header["image"] = wire::attach_image(&m, out);
                wire::send_message(fd, m);
            } else if (op == "restore-faces") {
                Image out;
                std::string info;
                int faces = 0;
                RunCallbacks cb;
                cb.progress = progress_events(fd);
                Status st = guarded([&] {
                    if (!req.header.contains("image")) throw Error(ErrorCode::kInvalidRequest, "restore-faces needs an image.");
                    FaceRestoreSettings fs;
                    fs.model = req.header.value("restorer", std::string("CodeFormer"));
                    fs.visibility = req.header.value("visibility", 1.0);
                    fs.codeformer_weight = req.header.value("codeformer_weight", 0.5);
                    if (req.header.contains("model_dirs") && req.header["model_dirs"].is_array())
                        for (const auto& d : req.header["model_dirs"])
                            if (d.is_string()) fs.model_dirs.push_back(d.get<std::string>());
                    Status s = engine.restore_faces(wire::image_from(req.header["image"], req), fs, cb, &out, &info, &faces);
                    if (!s.ok) throw Error(s.code, s.message);
                });
                if (!st.ok) {
                    wire::send_message(fd, error_message(st));
                    continue;
                }
                wire::Message m;
                m.header = {{"event", "result"}, {"model_loads", engine.model_loads()}, {"faces", faces}, {"info", info}};
                m.header["image"] = wire::attach_image(&m, out);
                wire::send_message(fd, m);
            } else if (op == "interrogate-deepbooru") {
                std::string tags;
                RunCallbacks cb;
                cb.progress = progress_events(fd);
                Status st = guarded([&] {
                    if (!req.header.contains("image")) throw Error(ErrorCode::kInvalidRequest, "interrogate-deepbooru needs an image.");
                    Status s = engine.interrogate_deepbooru(wire::image_from(req.header["image"], req), deepbooru_settings(req.header), cb, &tags);
                    if (!s.ok) throw Error(s.code, s.message);
                });
                if (!st.ok) {
                    wire::send_message(fd, error_message(st));
                    continue;
                }
                wire::Message m;
                m.header = {{"event", "result"}, {"model_loads", engine.model_loads()}, {"tags", tags}};
                wire::send_message(fd, m);
            } else if (op == "merge-checkpoints") {
                MergeResult result;
                bool cancelled = false;
                Status st = guarded([&] {
                    MergeSettings ms;
                    ms.primary = req.header.value("primary", std::string());
                    ms.secondary = req.header.value("secondary", std::string());
                    ms.tertiary = req.header.value("tertiary", std::string());
                    ms.method = req.header.value("method", ms.method);
                    ms.multiplier = req.header.value("multiplier", ms.multiplier);
                    ms.save_as_half = req.header.value("save_as_half", ms.save_as_half);
                    ms.custom_name = req.header.value("custom_name", std::string());
                    ms.bake_in_vae = req.header.value("bake_in_vae", std::string());
                    ms.discard_weights = req.header.value("discard_weights", std::string());
                    ms.config_source = parse_config_source(req.header.value("config_source", std::string("A, B or C")));
                    ms.checkpoint_format = req.header.value("checkpoint_format", ms.checkpoint_format);
                    result = merge_checkpoints(ms, progress_events(fd), cancel_watch(fd, &cancelled));
                });
                if (!st.ok) {
                    wire::send_message(fd, error_message(st));
                    continue;
                }
                wire::Message m;
                m.header = {{"event", "result"}, {"model_loads", engine.model_loads()}, {"path", result.path},
                            {"merged", result.merged}, {"written", result.written}, {"config", result.config}, {"inpainting", result.inpainting},
                            {"instruct_pix2pix", result.instruct_pix2pix}};
                wire::send_message(fd, m);
            } else if (op == "extras-upscale") {
                Image out;
                std::string info;
                RunCallbacks cb;
                cb.progress = progress_events(fd);
                Status st = guarded([&] {
                    if (!req.header.contains("image")) throw Error(ErrorCode::kInvalidRequest, "extras-upscale needs an image.");
                    imaging::ExtrasUpscaleSettings es;
                    es.upscaler_1 = req.header.value("upscaler_1", es.upscaler_1);
                    es.upscaler_2 = req.header.value("upscaler_2", es.upscaler_2);
                    es.upscaler_2_visibility = req.header.value("upscaler_2_visibility", es.upscaler_2_visibility);
                    es.scale_to = req.header.value("scale_to", es.scale_to);
                    es.upscale_by = req.header.value("upscale_by", es.upscale_by);
                    es.max_side_length = req.header.value("max_side_length", es.max_side_length);
                    es.to_width = req.header.value("to_width", es.to_width);
                    es.to_height = req.header.value("to_height", es.to_height);
                    es.crop = req.header.value("crop", es.crop);
                    es.ldsr_steps = req.header.value("ldsr_steps", es.ldsr_steps);
                    es.gfpgan_visibility = req.header.value("gfpgan_visibility", es.gfpgan_visibility);
                    es.codeformer_visibility = req.header.value("codeformer_visibility", es.codeformer_visibility);
                    es.codeformer_weight = req.header.value("codeformer_weight", es.codeformer_weight);
                    if (req.header.contains("model_dirs") && req.header["model_dirs"].is_array())
                        for (const auto& d : req.header["model_dirs"])
                            if (d.is_string()) es.face_model_dirs.push_back(d.get<std::string>());
                    Status s = engine.extras_upscale(wire::image_from(req.header["image"], req), es, cb, &out, &info);
                    if (!s.ok) throw Error(s.code, s.message);
                });
                if (!st.ok) {
                    wire::send_message(fd, error_message(st));
                    continue;
                }
                wire::Message m;
                m.header = {{"event", "result"}, {"model_loads", engine.model_loads()}, {"info", info}};
                m.header["image"] = wire::attach_image(&m, out);
                wire::send_message(fd, m);
            } else if (op == "remove") {
                Image out;
                std::string used;
                RunCallbacks cb;
                cb.progress = progress_events(fd);
                Status st = guarded([&] {
                    if (!req.header.contains("image") || !req.header.contains("mask"))
                        throw Error(ErrorCode::kInvalidRequest, "remove needs an image and a mask.");
                    Status s = engine.remove_object(wire::image_from(req.header["image"], req), wire::image_from(req.header["mask"], req),
                                                    req.header.value("method", "Auto"), req.header.value("lama", ""), cb, &out, &used);
                    if (!s.ok) throw Error(s.code, s.message);
                });
                if (!st.ok) {
                    wire::send_message(fd, error_message(st));
                    continue;
                }
                wire::Message m;
                m.header = {{"event", "result"}, {"method", used}, {"model_loads", engine.model_loads()}};
                m.header["image"] = wire::attach_image(&m, out);
                wire::send_message(fd, m);
            } else if (op == "txt2img" || op == "img2img" || op == "inpaint" || op == "sd-upscale" ||
                       op == "outpaint" || op == "outpaint-mk2") {
                bool cancelled = false;
                RunCallbacks cb;
                cb.progress = progress_events(fd);
                cb.cancelled = cancel_watch(fd, &cancelled);
                const int preview_every = req.header.value("preview_every", 0);
                cb.preview_every = preview_every;
                if (preview_every > 0)
                    cb.preview = [&](const Image& img) {
                        wire::Message m;
                        m.header = {{"event", "preview"}};
                        m.header["image"] = wire::attach_image(&m, img);
                        wire::send_message(fd, m);
                    };
                std::vector<GeneratedImage> out;
                LoadedModel info;
                Image overlay_mask;
                std::vector<int> paste_box;
                Status st = guarded([&] {
                    const GenerateRequest r = wire::request_from_json(req.header.value("request", nlohmann::json::object()));
                    Status s = engine.load_model(model_from(req.header), &info);
                    if (!s.ok) throw Error(s.code, s.message);
                    if (op == "txt2img") {
                        s = engine.txt2img(r, cb, &out);
                    } else if (op == "sd-upscale") {
                        if (!req.header.contains("image")) throw Error(ErrorCode::kInvalidRequest, "sd-upscale needs an image.");
                        s = engine.sd_upscale(r, wire::image_from(req.header["image"], req), req.header.value("upscaler", "ESRGAN thick"),
                                              req.header.value("scale", 2.0), req.header.value("overlap", 64), cb, &out);
                    } else if (op == "outpaint") {
                        if (!req.header.contains("image")) throw Error(ErrorCode::kInvalidRequest, "outpaint needs an image.");
                        imaging::OutpaintSettings os;
                        os.pixels = req.header.value("pixels", 128);
                        os.mask_blur = req.header.value("outpaint_mask_blur", 4);
                        imaging::set_outpaint_directions(req.header.value("directions", std::string("left,right,up,down")), &os.sides);
                        s = engine.outpaint(r, wire::image_from(req.header["image"], req), os, cb, &out);
                    } else if (op == "outpaint-mk2") {
                        if (!req.header.contains("image")) throw Error(ErrorCode::kInvalidRequest, "outpaint-mk2 needs an image.");
                        imaging::OutpaintMk2Settings os;
                        os.pixels = req.header.value("pixels", 128);
                        os.mask_blur = req.header.value("outpaint_mask_blur", 8);
                        os.noise_q = req.header.value("noise_q", 1.0);
                        os.color_variation = req.header.value("color_variation", 0.05);
                        imaging::set_outpaint_directions(req.header.value("directions", std::string("left,right,up,down")), &os.sides);
                        s = engine.outpaint_mk2(r, wire::image_from(req.header["image"], req), os, cb, &out);
                    } else if (op == "inpaint") {
                        if (!req.header.contains("image") || !req.header.contains("mask"))
                            throw Error(ErrorCode::kInvalidRequest, "inpaint needs an image and a mask.");
                        s = engine.inpaint(r, wire::image_from(req.header["image"], req), wire::image_from(req.header["mask"], req),
                                           cb, &out, &overlay_mask, &paste_box);
                    } else {
                        if (!req.header.contains("image")) throw Error(ErrorCode::kInvalidRequest, "img2img needs an init image.");
                        // Loopback's first image, whose colours every loop's result is matched to.
                        Image reference;
                        if (req.header.contains("color_reference")) reference = wire::image_from(req.header["color_reference"], req);
                        s = engine.img2img(r, wire::image_from(req.header["image"], req), cb, &out,
                                           reference.valid() ? &reference : nullptr);
                    }
                    if (!s.ok) throw Error(s.code, s.message);
                });
                if (!st.ok) {
                    wire::send_message(fd, error_message(st));  // throws if the client already left
                    continue;
                }
                wire::Message m = info_message("result", info, engine);
                m.header["images"] = nlohmann::json::array();
                for (const auto& g : out) {
                    nlohmann::json d = wire::attach_image(&m, g.image);
                    d["infotext"] = g.infotext;
                    d["seed"] = g.seed;
                    d["subseed"] = g.subseed;
                    if (g.mask_for_overlay.valid()) d["mask_for_overlay"] = wire::attach_image(&m, g.mask_for_overlay);
                    m.header["images"].push_back(d);
                }
                if (overlay_mask.valid()) m.header["mask_for_overlay"] = wire::attach_image(&m, overlay_mask);
                if (!paste_box.empty()) m.header["paste_box"] = paste_box;
                wire::send_message(fd, m);
            } else {
                wire::send_message(fd, error_message(Status::failure(ErrorCode::kInvalidRequest, "Unknown engine operation \"" + op + "\".")));
            }
        } catch (const Error&) {
            return true;  // the client went away while we wrote to it
        }
    }
}

}  // namespace

int cmd_serve(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {});
    const std::string path = o.get("socket");
    if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path))
        throw Error(ErrorCode::kInvalidRequest, "serve needs --socket PATH (a short file path).");
    const pid_t parent = static_cast<pid_t>(o.get_int("parent-pid", 0));
    const int idle_exit = o.get_int("idle-exit", 3600);
    std::signal(SIGPIPE, SIG_IGN);

    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    {
        const int probe = ::socket(AF_UNIX, SOCK_STREAM, 0);
        const bool running = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(probe);
        if (running) {
            std::cerr << "gimp-diffusion engine: already running on " << path << "\n";
            return 0;
        }
    }
    ::unlink(path.c_str());
    const int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const mode_t old = ::umask(0077);
    const bool bound = ::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(lfd, 4) == 0;
    ::umask(old);
    if (!bound) throw Error(ErrorCode::kBackendUnavailable, "The engine cannot listen on " + path + "; check that its folder is writable.");

    Engine engine;
    time_t last = std::time(nullptr);
    bool run = true;
    while (run) {
        if (parent > 0 && ::kill(parent, 0) != 0) break;  // GIMP is gone: so are we
        if (idle_exit > 0 && std::time(nullptr) - last > idle_exit) break;
        if (!wire::readable(lfd, 1000)) continue;
        const int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) continue;
        run = serve_connection(fd, engine);
        ::close(fd);
        last = std::time(nullptr);
    }
    ::close(lfd);
    ::unlink(path.c_str());
    return 0;
}

}  // namespace sdgimp::cli
