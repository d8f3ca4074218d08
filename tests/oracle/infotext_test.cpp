// A1111 parameters text: writing (infotext_create.json) and pasting (infotext_parse.json), exact.
#include <gtest/gtest.h>

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <clocale>
#include <cstdio>
#include <fstream>

#include "io/exif_comment.h"
#include "io/png_file.h"
#include "support/oracle.h"
#include "request.h"
#include "status.h"
#include "text/infotext.h"

using namespace sdgimp;
using nlohmann::json;

namespace {

std::optional<text::InfoValue> to_value(const json& v) {
    if (v.is_null()) return std::nullopt;
    if (v.is_boolean()) return text::InfoValue::boolean(v.get<bool>());
    if (v.is_number_integer()) return text::InfoValue::integer(v.get<int64_t>());
    if (v.is_number_float()) return text::InfoValue::real(v.get<double>());
    if (v.is_string()) return text::InfoValue::str(v.get<std::string>());
    ADD_FAILURE() << "unexpected value " << v.dump();
    return std::nullopt;
}

// The processing object A1111 reads, filled from a case's settings.
text::GenerationInfo from_settings(const json& s) {
    text::GenerationInfo g;
    auto str_or = [&](const char* k, std::optional<std::string>* out) {
        if (s.contains(k) && !s[k].is_null()) *out = s[k].get<std::string>();
    };
    g.prompt = s.value("prompt", "");
    g.negative_prompt = s.value("negative_prompt", "");
    g.steps = s["steps"];
    g.sampler_name = s["sampler_name"];
    g.scheduler = s.value("scheduler", "Automatic");
    g.cfg_scale = s["cfg_scale"];
    g.seed = s["seed"];
    g.subseed = s.value("subseed", int64_t{-1});
    g.subseed_strength = s.value("subseed_strength", 0.0);
    g.width = s["width"];
    g.height = s["height"];
    str_or("sd_model_hash", &g.model_hash);
    str_or("sd_model_name", &g.model_name);
    str_or("sd_vae_name", &g.vae_name);
    str_or("sd_vae_hash", &g.vae_hash);
    g.clip_skip = s.value("clip_skip", 1);
    if (s.value("restore_faces", false)) g.face_restoration = s["face_restoration_model"].get<std::string>();
    g.seed_resize_from_w = s.value("seed_resize_from_w", -1);
    g.seed_resize_from_h = s.value("seed_resize_from_h", -1);
    g.inpainting_conditioning = s.value("is_using_inpainting_conditioning", false);
    g.tiling = s.value("tiling", false);
    g.user = s.value("user", "");
    g.batch_size = s.value("batch_size", 1);
    g.position_in_batch = s.value("position_in_batch", 0);
    g.iteration = s.value("iteration", 0);
    g.enable_hr = s.value("enable_hr", false);
    g.hr_prompt = s.value("hr_prompt", g.prompt);
    g.hr_negative_prompt = s.value("hr_negative_prompt", g.negative_prompt);
    g.token_merging_ratio = s.value("token_merging_ratio", 0.0);
    g.randn_source = s.value("randn_source", "GPU");
    if (s.contains("opts")) {
        g.add_user = s["opts"].value("add_user_name_to_info", false);
        g.add_version = s["opts"].value("add_version_to_infotext", true);
    }
    for (const auto& kv : s["extra_generation_params"]) {
        const std::string key = kv[0];
        const json& v = kv[1];
        if (v.is_object() && v.contains("written_only_if_different_from")) {
            const std::string from = v["written_only_if_different_from"];
            (from == "prompt" ? g.hires_prompt_keys : g.hires_negative_prompt_keys).push_back(key);
            g.extra.emplace_back(key, std::nullopt);
        } else {
            g.extra.emplace_back(key, to_value(v));
        }
    }
    return g;
}

void expect_parsed(const text::InfoParams& got, const json& want) {
    EXPECT_EQ(got.size(), want.size());
    for (const auto& [k, v] : want.items()) {
        auto it = std::find_if(got.begin(), got.end(), [&](const auto& kv) { return kv.first == k; });
        ASSERT_NE(it, got.end()) << "missing key " << k;
        ASSERT_TRUE(it->second.has_value()) << k;
        EXPECT_TRUE(*it->second == *to_value(v)) << k << ": got " << it->second->to_string() << " want " << v.dump();
    }
    for (const auto& kv : got) EXPECT_TRUE(want.contains(kv.first)) << "unexpected key " << kv.first;
}

}  // namespace

TEST(OracleText, InfotextCreate) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto data = test::read_json(test::oracle_dir() + "/text/infotext_create.json");
    ASSERT_FALSE(data["cases"].empty());
    for (const auto& c : data["cases"]) {
        SCOPED_TRACE(c["id"].get<std::string>() + " " + c["name"].get<std::string>());
        text::GenerationInfo g = from_settings(c["settings"]);
        g.version = data["program_version"];
        const std::string got = text::create_infotext(g);
        EXPECT_EQ(got, c["infotext"].get<std::string>());
        expect_parsed(text::parse_infotext(got), c["parsed"]);
    }
}

TEST(OracleText, InfotextParse) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto data = test::read_json(test::oracle_dir() + "/text/infotext_parse.json");
    ASSERT_FALSE(data["cases"].empty());
    for (const auto& c : data["cases"]) {
        SCOPED_TRACE(c["id"].get<std::string>() + " " + c["name"].get<std::string>());
        expect_parsed(text::parse_infotext(c["infotext"]), c["parsed"]);
    }
}

TEST(Infotext, PythonFloatRepr) {
    EXPECT_EQ(text::python_float_repr(7.0), "7.0");
    EXPECT_EQ(text::python_float_repr(0.30000000000000004), "0.30000000000000004");
    EXPECT_EQ(text::python_float_repr(0.05), "0.05");
    EXPECT_EQ(text::python_float_repr(1e-05), "1e-05");
    EXPECT_EQ(text::python_float_repr(1e16), "1e+16");
    EXPECT_EQ(text::python_float_repr(123456789012345.0), "123456789012345.0");
    EXPECT_EQ(text::python_float_repr(-2.5), "-2.5");
}

// A1111's schedule settings: written where its get_sigmas writes them (after the img2img noise
// multiplier, before the extra noise, the SGM noise multiplier and the sampler's parameters), read
// back by "paste parameters"; a text without them means the model's range and the schedule's rho.
TEST(Infotext, ScheduleSettingsRoundTrip) {
    GenerateRequest r;
    r.prompt = "a lighthouse";
    r.sampler = "Euler";
    r.schedule = "Karras";
    r.schedule_sigma_min = 0.1;
    r.schedule_sigma_max = 10;
    r.schedule_rho = 5;
    r.always_discard_next_to_last_sigma = true;
    r.s_churn = 0.5;
    r.sgm_noise_multiplier = true;
    const std::string text = text::create_infotext(generation_info(r, {}, 42, 42, false));
    EXPECT_NE(text.find("Discard penultimate sigma: True, Schedule min sigma: 0.1, Schedule max sigma: 10.0, Schedule rho: 5.0, "
                        "SGM noise multiplier: True, Sigma churn: 0.5, Version"),
              std::string::npos) << text;
    GenerateRequest back;
    EXPECT_TRUE(apply_parameters(text, &back).empty()) << text;
    EXPECT_EQ(back.schedule_sigma_min, 0.1);
    EXPECT_EQ(back.schedule_sigma_max, 10);
    EXPECT_EQ(back.schedule_rho, 5);
    EXPECT_TRUE(back.always_discard_next_to_last_sigma);

    // Keys a script or the img2img set-up adds before sampling (soft inpainting's) go ahead of them.
    GenerateRequest soft = r;
    soft.soft_inpainting = true;
    soft.refiner_switch_by_steps = true;
    text::GenerationInfo gs = generation_info(soft, {}, 42, 42, true);
    add_soft_inpaint_info(soft, &gs);
    const std::string ts = text::create_infotext(gs);
    EXPECT_LT(ts.find("Soft inpainting difference contrast"), ts.find("Discard penultimate sigma")) << ts;
    EXPECT_LT(ts.find("Soft inpainting difference contrast"), ts.find("Refiner switch by sampling steps")) << ts;

    // img2img: after "Noise multiplier", before "Extra noise"; Beta records its distribution.
    GenerateRequest b;
    b.sampler = "DPM++ 2M";
    b.schedule = "Beta";
    b.beta_dist_alpha = 0.4;
    b.beta_dist_beta = 0.7;
    b.noise_multiplier = 0.9;
    b.extra_noise = 0.1;
    const std::string tb = text::create_infotext(generation_info(b, {}, 1, 1, true));
    EXPECT_NE(tb.find("Noise multiplier: 0.9, Beta schedule alpha: 0.4, Beta schedule beta: 0.7, Extra noise: 0.1"), std::string::npos) << tb;
    GenerateRequest back_b;
    back_b.schedule_rho = 3;  // a text without the key means the schedule's own rho again
    apply_parameters(tb, &back_b);
    EXPECT_EQ(back_b.beta_dist_alpha, 0.4);
    EXPECT_EQ(back_b.beta_dist_beta, 0.7);
    EXPECT_EQ(back_b.schedule_rho, 0);

    // The timestep samplers never build a sigma list, and rho is recorded only for the schedules that
    // take one and only when it is not theirs; a sampler that discards by itself records no discard.
    GenerateRequest d;
    d.sampler = "DDIM";
    d.schedule_sigma_min = 0.1;
    d.always_discard_next_to_last_sigma = true;
    EXPECT_EQ(text::create_infotext(generation_info(d, {}, 1, 1, false)).find("sigma"), std::string::npos);
    GenerateRequest e;
    e.sampler = "DPM2";
    e.schedule = "Exponential";
    e.schedule_rho = 5;
    e.always_discard_next_to_last_sigma = true;
    const std::string te = text::create_infotext(generation_info(e, {}, 1, 1, false));
    EXPECT_EQ(te.find("rho"), std::string::npos) << te;
    EXPECT_EQ(te.find("Discard"), std::string::npos) << te;
    e.schedule = "Karras";
    e.schedule_rho = 7;
    EXPECT_EQ(text::create_infotext(generation_info(e, {}, 1, 1, false)).find("rho"), std::string::npos);
    // Out of range: one sentence naming the setting.
    GenerateRequest bad = r;
    bad.schedule_sigma_min = 12;
    try {
        validate(bad);
        ADD_FAILURE() << "accepted";
    } catch (const Error& err) {
        EXPECT_STREQ(err.what(), "Schedule min sigma must be below Schedule max sigma.");
    }
    bad = r;
    bad.beta_dist_alpha = 3;
    EXPECT_THROW(validate(bad), Error);
}

TEST(Infotext, QuoteRoundTrip) {
    const std::string s = "he said \"hi\", then\nleft \\ ok";
    EXPECT_EQ(text::json_unquote(text::json_quote(s)).value(), s);
    EXPECT_FALSE(text::json_unquote("\"a\" \"b\"").has_value());
}

// A1111's sampler parameters (Eta, Sigma churn/tmin/tmax/noise, NGMS, Skip Early CFG, SGM noise
// multiplier) and Tiling are written to the text when changed and read back by "paste parameters".
TEST(Infotext, SamplerParametersRoundTrip) {
    GenerateRequest r;
    r.prompt = "a lighthouse";
    r.sampler = "Euler";
    r.s_churn = 1.0;
    r.s_tmin = 0.5;
    r.s_tmax = 5.0;
    r.s_noise = 1.003;
    r.s_min_uncond = 2.0;
    r.s_min_uncond_all = true;
    r.skip_early_cond = 0.3;
    r.sgm_noise_multiplier = true;
    r.tiling = true;
    const std::string text = text::create_infotext(generation_info(r, {}, 42, 42, false));
    for (const char* part : {"Sigma churn: 1.0", "Sigma tmin: 0.5", "Sigma tmax: 5.0", "Sigma noise: 1.003", "NGMS: 2.0, NGMS all steps: True",
                             "Skip Early CFG: 0.3", "SGM noise multiplier: True", "Tiling: True"})
        EXPECT_NE(text.find(part), std::string::npos) << part << " in " << text;
    GenerateRequest back;
    EXPECT_TRUE(apply_parameters(text, &back).empty()) << text;
    EXPECT_EQ(back.s_churn, 1.0);
    EXPECT_EQ(back.s_tmin, 0.5);
    EXPECT_EQ(back.s_tmax, 5.0);
    EXPECT_EQ(back.s_noise, 1.003);
    EXPECT_EQ(back.s_min_uncond, 2.0);
    EXPECT_TRUE(back.s_min_uncond_all);
    EXPECT_EQ(back.skip_early_cond, 0.3);
    EXPECT_TRUE(back.sgm_noise_multiplier);
    EXPECT_TRUE(back.tiling);

    GenerateRequest a;
    a.sampler = "DPM++ 2M SDE";
    a.eta_ancestral = 0.67;
    const std::string ta = text::create_infotext(generation_info(a, {}, 1, 1, false));
    EXPECT_NE(ta.find("Eta: 0.67"), std::string::npos) << ta;
    EXPECT_EQ(ta.find("Sigma churn"), std::string::npos) << ta;
    GenerateRequest d;
    d.sampler = "DDIM";
    d.eta_ddim = 0.5;
    const std::string td = text::create_infotext(generation_info(d, {}, 1, 1, false));
    EXPECT_NE(td.find("Eta DDIM: 0.5"), std::string::npos) << td;
    GenerateRequest back_a, back_d;
    apply_parameters(ta, &back_a);
    apply_parameters(td, &back_d);
    EXPECT_EQ(back_a.eta_ancestral, 0.67);
    EXPECT_EQ(back_d.eta_ddim, 0.5);
    // Defaults write nothing.
    const std::string plain = text::create_infotext(generation_info(GenerateRequest{}, {}, 1, 1, false));
    for (const char* key : {"Eta", "Sigma", "NGMS", "Skip Early", "SGM"}) EXPECT_EQ(plain.find(key), std::string::npos) << plain;
}

// A1111 records a token merging ratio that is not 0, and the hires pass's (its own, else the first
// pass's) when Hires. fix ran; a pasted text sets them, a text without them means 0.
TEST(Infotext, TokenMergingRoundTrip) {
    GenerateRequest r;
    r.prompt = "a harbour";
    r.token_merging_ratio = 0.3;
    const std::string t = text::create_infotext(generation_info(r, {}, 42, 42, false));
    EXPECT_NE(t.find("Token merging ratio: 0.3"), std::string::npos) << t;
    EXPECT_EQ(t.find("Token merging ratio hr"), std::string::npos) << t;
    GenerateRequest back;
    back.token_merging_ratio_hr = 0.7;
    EXPECT_TRUE(apply_parameters(t, &back).empty()) << t;
    EXPECT_EQ(back.token_merging_ratio, 0.3);
    EXPECT_EQ(back.token_merging_ratio_hr, 0);

    GenerateRequest hr = r;
    hr.enable_hr = true;
    hr.denoising_strength = 0.5;
    const std::string th = text::create_infotext(generation_info(hr, {}, 42, 42, false));
    EXPECT_NE(th.find("Token merging ratio: 0.3, Token merging ratio hr: 0.3"), std::string::npos) << th;
    hr.token_merging_ratio = 0;
    hr.token_merging_ratio_hr = 0.5;
    const std::string th2 = text::create_infotext(generation_info(hr, {}, 42, 42, false));
    EXPECT_EQ(th2.find("Token merging ratio: "), std::string::npos) << th2;
    EXPECT_NE(th2.find("Token merging ratio hr: 0.5"), std::string::npos) << th2;
    EXPECT_TRUE(apply_parameters(th2, &back).empty()) << th2;
    EXPECT_EQ(back.token_merging_ratio, 0);
    EXPECT_EQ(back.token_merging_ratio_hr, 0.5);
    EXPECT_EQ(hires_token_merging_ratio(back), 0.5);
    // Image to image has no hires pass to record.
    const std::string ti = text::create_infotext(generation_info(hr, {}, 42, 42, true));
    EXPECT_EQ(ti.find("Token merging"), std::string::npos) << ti;
    // No key: none.
    apply_parameters("a harbour\nSteps: 20, Seed: 1", &back);
    EXPECT_EQ(back.token_merging_ratio, 0);
    EXPECT_EQ(back.token_merging_ratio_hr, 0);
    r.token_merging_ratio = 0.95;
    EXPECT_THROW(validate(r), Error);

    // Every oracle text made with a ratio pastes it back, and nothing of it is left unused.
    const auto data = test::read_json(test::oracle_dir() + "/text/infotext_create.json");
    int seen = 0;
    for (const auto& c : data["cases"]) {
        const auto& s = c["settings"];
        if (!s.contains("token_merging_ratio")) continue;
        ++seen;
        GenerateRequest p;
        const auto ignored = apply_parameters(c["infotext"].get<std::string>(), &p);
        EXPECT_EQ(std::count(ignored.begin(), ignored.end(), "Token merging ratio"), 0);
        EXPECT_EQ(p.token_merging_ratio, s["token_merging_ratio"].get<double>()) << c["id"];
    }
    EXPECT_GT(seen, 0);
}

// Hypertile's keys where its script puts them (before the hires keys; the second-pass switch as
// the hires pass starts), numbers only when not A1111's defaults, and pasted back.
TEST(Infotext, HypertileRoundTrip) {
    GenerateRequest r;
    r.prompt = "a harbour";
    r.hypertile_unet = true;
    r.hypertile_unet_swap_size = 5;
    r.hypertile_vae = true;
    r.enable_hr = true;
    r.denoising_strength = 0.5;
    const std::string t = text::create_infotext(generation_info(r, {}, 42, 42, false));
    EXPECT_NE(t.find("Denoising strength: 0.5, Hypertile U-Net: True, Hypertile U-Net swap size: 5, Hypertile VAE: True, Hires upscale: 2,"),
              std::string::npos) << t;
    GenerateRequest back;
    back.hypertile_vae_max_tile = 64;
    EXPECT_TRUE(apply_parameters(t, &back).empty()) << t;
    EXPECT_TRUE(back.hypertile_unet);
    EXPECT_FALSE(back.hypertile_unet_second_pass);
    EXPECT_EQ(back.hypertile_unet_swap_size, 5);
    EXPECT_EQ(back.hypertile_unet_max_tile, 256);
    EXPECT_TRUE(back.hypertile_vae);
    EXPECT_EQ(back.hypertile_vae_max_tile, 128);

    GenerateRequest two;
    two.prompt = "a harbour";
    two.hypertile_unet_second_pass = true;
    two.hypertile_unet_max_depth = 2;
    two.enable_hr = true;
    two.denoising_strength = 0.5;
    two.s_min_uncond = 1.5;
    const std::string t2 = text::create_infotext(generation_info(two, {}, 42, 42, false));
    EXPECT_NE(t2.find("NGMS: 1.5, Hypertile U-Net second pass: True, Hypertile U-Net max depth: 2"), std::string::npos) << t2;
    EXPECT_EQ(t2.find("Hypertile U-Net: "), std::string::npos) << t2;
    EXPECT_TRUE(apply_parameters(t2, &back).empty()) << t2;
    EXPECT_FALSE(back.hypertile_unet);
    EXPECT_TRUE(back.hypertile_unet_second_pass);
    EXPECT_EQ(back.hypertile_unet_max_depth, 2);
    EXPECT_FALSE(back.hypertile_vae);
    // Image to image has no second pass to note.
    EXPECT_EQ(text::create_infotext(generation_info(two, {}, 42, 42, true)).find("Hypertile"), std::string::npos);
    two.hypertile_unet_swap_size = 65;
    EXPECT_THROW(validate(two), Error);
}

namespace {

// One PNG chunk: length, type, data, CRC over type and data.
std::string png_chunk(const std::string& type, const std::string& data) {
    std::string c;
    const uint32_t n = static_cast<uint32_t>(data.size());
    for (int s = 24; s >= 0; s -= 8) c += static_cast<char>((n >> s) & 0xff);
    const std::string body = type + data;
    c += body;
    const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
    for (int s = 24; s >= 0; s -= 8) c += static_cast<char>((crc >> s) & 0xff);
    return c;
}

std::string zlib_bytes(const std::string& s) {
    uLongf n = compressBound(static_cast<uLong>(s.size()));
    std::string out(n, '\0');
    compress(reinterpret_cast<Bytef*>(&out[0]), &n, reinterpret_cast<const Bytef*>(s.data()), static_cast<uLong>(s.size()));
    out.resize(n);
    return out;
}

}  // namespace

// A1111's text as PIL stores it: tEXt in Latin-1 whenever Latin-1 can hold it (so "café" is the
// byte 0xE9), iTXt in UTF-8 otherwise, zTXt compressed Latin-1; all come back as UTF-8, before
// and without decoding the pixels.
TEST(Infotext, PngTextChunksAsPilWritesThem) {
    const std::string path = "/tmp/gd-pngtext-" + std::to_string(::getpid()) + ".png";
    std::string png = "\x89PNG\r\n\x1a\n";
    png += png_chunk("IHDR", std::string("\0\0\0\1\0\0\0\1\x08\0\0\0\0", 13));
    png += png_chunk("tEXt", std::string("parameters") + '\0' + "caf\xe9 au lait\nSteps: 20, Seed: 1");
    png += png_chunk("iTXt", std::string("title\0\0\0\0\0", 10) + "\xe7\x8c\xab \xc3\xa9");
    png += png_chunk("zTXt", std::string("note\0\0", 6) + zlib_bytes("na\xefve"));
    png += png_chunk("IDAT", zlib_bytes(std::string("\0\x80", 2)));
    png += png_chunk("IEND", "");
    {
        std::ofstream f(path, std::ios::binary);
        f.write(png.data(), static_cast<std::streamsize>(png.size()));
    }
    for (const auto& text : {io::read_png_text(path), io::read_png(path).text}) {
        EXPECT_EQ(text.at("parameters"), "caf\xc3\xa9 au lait\nSteps: 20, Seed: 1");
        EXPECT_EQ(text.at("title"), "\xe7\x8c\xab \xc3\xa9");
        EXPECT_EQ(text.at("note"), "na\xc3\xafve");
    }
    EXPECT_EQ(io::read_png(path).image.pixels, std::vector<uint8_t>{0x80});
    // Our own files (UTF-8 beyond ASCII written as iTXt) read back as written.
    io::write_png(path, Image{1, 1, 3, {1, 2, 3}}, {{"parameters", "猫, café\nSteps: 4"}});
    EXPECT_EQ(io::read_png_text(path).at("parameters"), "猫, café\nSteps: 4");
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f << "GIF89a not a png";
    }
    try {
        io::read_png_text(path);
        ADD_FAILURE() << "read a GIF as a PNG";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), path + " is not a PNG file.");
    }
    std::remove(path.c_str());
}

namespace {

// A TIFF block as piexif.dump lays it out for {"Exif": {UserComment: comment}}: IFD0 holding the
// Exif IFD pointer, the Exif IFD holding the UserComment (UNDEFINED), the comment's bytes after.
std::string exif_tiff(const std::string& comment, bool big_endian) {
    std::string t;
    auto u16 = [&](uint32_t v) {
        if (big_endian) t += {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
        else t += {static_cast<char>(v & 0xff), static_cast<char>(v >> 8)};
    };
    auto u32 = [&](uint32_t v) {
        if (big_endian) u16(v >> 16), u16(v & 0xffff);
        else u16(v & 0xffff), u16(v >> 16);
    };
    t += big_endian ? std::string("MM\0*", 4) : std::string("II*\0", 4);
    u32(8);
    u16(1), u16(0x8769), u16(4), u32(1), u32(26), u32(0);                                      // IFD0 at 8
    u16(1), u16(0x9286), u16(7), u32(static_cast<uint32_t>(comment.size())), u32(44), u32(0);  // Exif IFD at 26
    return t + comment;                                                                          // at 44
}

std::string utf16(const std::u16string& s, bool big_endian) {
    std::string out;
    for (char16_t c : s) {
        const char hi = static_cast<char>(c >> 8), lo = static_cast<char>(c & 0xff);
        out += big_endian ? std::string{hi, lo} : std::string{lo, hi};
    }
    return out;
}

std::string jpeg_with(const std::string& app1_payload) {
    std::string j = "\xFF\xD8";
    auto segment = [&](char marker, const std::string& body) {
        const size_t n = body.size() + 2;
        j += std::string("\xFF") + marker + static_cast<char>(n >> 8) + static_cast<char>(n & 0xff) + body;
    };
    segment('\xE0', std::string("JFIF\0\1\1\0\0\1\0\1\0\0", 14));
    segment('\xE1', app1_payload);
    segment('\xDB', std::string(65, '\x10'));
    j += "\xFF\xDA";
    return j;
}

std::string webp_with(const std::string& exif) {
    auto chunk = [](const std::string& id, const std::string& body) {
        const uint32_t n = static_cast<uint32_t>(body.size());
        std::string c = id + std::string{static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff), static_cast<char>((n >> 16) & 0xff),
                                         static_cast<char>(n >> 24)} + body;
        return n % 2 ? c + '\0' : c;
    };
    const std::string body = "WEBP" + chunk("VP8X", std::string(10, '\0')) + chunk("VP8 ", "abcde") + chunk("EXIF", exif);
    const uint32_t n = static_cast<uint32_t>(body.size());
    return "RIFF" + std::string{static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff), static_cast<char>((n >> 16) & 0xff),
                                static_cast<char>(n >> 24)} + body;
}

std::string comment_of(const std::string& bytes) {
    return io::exif_user_comment(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

// A1111's JPEG and WebP parameters (piexif's UserComment, "UNICODE" + UTF-16 in the block's byte
// order); damaged or foreign bytes give no text, never a crash.
TEST(Infotext, ExifUserCommentOfJpegAndWebp) {
    const std::u16string text = u"cat, caf\u00e9 \U0001F600\nSteps: 20, Seed: 1";
    const std::string want = "cat, caf\xc3\xa9 \xf0\x9f\x98\x80\nSteps: 20, Seed: 1";
    const std::string be = exif_tiff(std::string("UNICODE\0", 8) + utf16(text, true), true);
    const std::string le = exif_tiff(std::string("UNICODE\0", 8) + utf16(text, false), false);
    const std::string jpeg = jpeg_with(std::string("Exif\0\0", 6) + be);
    EXPECT_EQ(comment_of(jpeg), want);
    EXPECT_EQ(comment_of(jpeg_with(std::string("Exif\0\0", 6) + le)), want);
    EXPECT_EQ(comment_of(jpeg_with(std::string("Exif\0\0", 6) + exif_tiff(std::string("ASCII\0\0\0", 8) + "plain\nSteps: 2\0\0", true))),
              "plain\nSteps: 2");
    const std::string webp = webp_with(be);
    EXPECT_EQ(comment_of(webp), want);
    EXPECT_EQ(comment_of(webp_with(std::string("Exif\0\0", 6) + le)), want);
    // A lone surrogate becomes U+FFFD; a JIS comment, an XMP APP1 and other files give nothing.
    EXPECT_EQ(comment_of(jpeg_with(std::string("Exif\0\0", 6) + exif_tiff(std::string("UNICODE\0", 8) + utf16(u"a\xD800" u"b", true), true))),
              "a\xef\xbf\xbd" "b");
    EXPECT_EQ(comment_of(jpeg_with(std::string("Exif\0\0", 6) + exif_tiff(std::string("JIS\0\0\0\0\0", 8) + "xy", true))), "");
    EXPECT_EQ(comment_of(jpeg_with("http://ns.adobe.com/xap/1.0/\0<x/>")), "");
    EXPECT_EQ(comment_of("GIF89a........"), "");
    EXPECT_EQ(comment_of(""), "");
    // Every cut-off file, and every single-byte change, ends without reading past the bytes.
    for (const std::string* file : {&jpeg, &webp}) {
        for (size_t n = 0; n < file->size(); ++n) {
            const std::string cut = file->substr(0, n);
            const std::string got = comment_of(cut);
            EXPECT_TRUE(got.empty() || got == want) << n;
        }
        for (size_t i = 0; i < file->size(); ++i)
            for (int v : {0x00, 0xFF, 0x7F}) {
                std::string bad = *file;
                bad[i] = static_cast<char>(v);
                (void)comment_of(bad);
            }
    }
}
