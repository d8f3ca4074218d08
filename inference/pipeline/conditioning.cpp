#include "conditioning.h"

#include "../status.h"
#include "../text/extra_networks.h"
#include "../text/multicond.h"

namespace sdgimp::pipeline {

torch::Tensor apply_emphasis(const torch::Tensor& z, const torch::Tensor& multipliers, text::EmphasisMode mode) {
    if (mode == text::EmphasisMode::kIgnore || mode == text::EmphasisMode::kNone) return z;
    auto m = multipliers.to(z.dtype()).unsqueeze(-1).expand(z.sizes());
    if (mode == text::EmphasisMode::kNoNorm) return z * m;
    auto original_mean = z.mean();
    auto weighted = z * m;
    return weighted * (original_mean / weighted.mean());
}

std::vector<std::vector<text::PromptChunk>> batch_chunks(const text::ClipTokenizer& tok,
                                                         const std::vector<std::string>& texts,
                                                         text::TokenizerFlavor flavor, text::EmphasisMode emphasis,
                                                         const std::vector<text::EmbeddingWord>* embeddings) {
    text::ChunkSettings cs;
    cs.flavor = flavor;
    cs.emphasis = emphasis;
    cs.embeddings = embeddings;
    std::vector<text::ChunkedPrompt> chunked;
    size_t n_chunks = 1;
    for (const auto& t : texts) {
        chunked.push_back(text::chunk_prompt(tok, t, cs));
        n_chunks = std::max(n_chunks, chunked.back().chunks.size());
    }
    const text::PromptChunk empty = text::empty_chunk(flavor);
    std::vector<std::vector<text::PromptChunk>> out(n_chunks);
    for (size_t k = 0; k < n_chunks; ++k)
        for (const auto& c : chunked) out[k].push_back(k < c.chunks.size() ? c.chunks[k] : empty);
    return out;
}

torch::Tensor encode_texts(const SDModel& m, const text::ClipTokenizer& tok, const std::vector<std::string>& texts,
                           const TextSettings& s) {
    const auto flavor =
        m.cfg.text.kind == TextEncoderKind::kOpenCLIP ? text::TokenizerFlavor::kOpenCLIP : text::TokenizerFlavor::kHF;
    std::vector<torch::Tensor> zs;
    for (const auto& batch : batch_chunks(tok, texts, flavor, s.emphasis, s.embeddings ? &s.embeddings->words() : nullptr)) {
        std::vector<int64_t> ids;
        std::vector<float> mults;
        std::vector<models::TokenFix> fixes;
        for (const auto& ch : batch) {
            for (const auto& [slot, index] : ch.fixes)
                fixes.push_back({static_cast<int64_t>(mults.size() / ch.multipliers.size()), slot + 1,
                                 s.embeddings->items()[static_cast<size_t>(index)].vectors});
            ids.insert(ids.end(), ch.transformer_tokens.begin(), ch.transformer_tokens.end());
            for (double w : ch.multipliers) mults.push_back(static_cast<float>(w));
        }
        const int64_t b = static_cast<int64_t>(batch.size());
        auto ids_t = torch::tensor(ids, torch::kLong).view({b, -1});
        auto mult_t = torch::tensor(mults, torch::kFloat).view({b, -1});
        zs.push_back(apply_emphasis(m.encode_text(ids_t, s.clip_skip, fixes), mult_t, s.emphasis));
    }
    return torch::cat(zs, 1);
}

torch::Tensor ScheduledCond::at(int call) const {
    for (size_t i = 0; i < ends.size(); ++i)
        if (ends[i] >= call) return conds[static_cast<int64_t>(i)];
    return conds[conds.size(0) - 1];
}

ScheduledCond encode_schedule(const SDModel& m, const text::ClipTokenizer& tok, const text::PromptSchedule& sched,
                              const TextSettings& s) {
    ScheduledCond out;
    std::vector<std::string> texts;
    for (const auto& [end, t] : sched) {
        out.ends.push_back(end);
        texts.push_back(t);
    }
    out.conds = encode_texts(m, tok, texts, s);
    return out;
}

namespace {

torch::Tensor pad_tokens(const torch::Tensor& c, int64_t tokens) {
    if (c.size(0) == tokens) return c;
    return torch::cat({c, c.slice(0, c.size(0) - 1).repeat({tokens - c.size(0), 1})});
}

}  // namespace

sampling::Guidance RunConditioning::at(int call) const {
    std::vector<torch::Tensor> rows;
    for (const auto& [sc, w] : positive) rows.push_back(sc.at(call));
    int64_t tokens = 0;
    for (const auto& r : rows) tokens = std::max(tokens, r.size(0));
    for (auto& r : rows) r = pad_tokens(r, tokens);
    sampling::Guidance g;
    std::vector<torch::Tensor> all;
    for (int i = 0; i < batch; ++i) {
        std::vector<std::pair<int, double>> list;
        for (size_t k = 0; k < rows.size(); ++k) {
            list.emplace_back(static_cast<int>(all.size()), positive[k].second);
            all.push_back(rows[k]);
        }
        g.conds_list.push_back(std::move(list));
    }
    g.cond = torch::stack(all);
    g.uncond = negative.at(call).unsqueeze(0).repeat({batch, 1, 1});
    g.cfg_scale = cfg_scale;
    g.pad = pad;
    g.empty = empty;
    g.padded = padded;
    g.ngms_skipped = ngms_skipped;
    return g;
}

namespace {

// What decides a schedule's encoding: its texts, the settings, and where it switches when it does
// (a single-entry schedule's encoding is the same for any step count).
std::string schedule_key(const text::PromptSchedule& sched, const TextSettings& s) {
    std::string key = std::to_string(static_cast<int>(s.emphasis)) + '\x1f' + std::to_string(s.clip_skip);
    for (const auto& [end, t] : sched) {
        key += '\x1e';
        if (sched.size() > 1) key += std::to_string(end);
        key += '\x1f' + t;
    }
    return key;
}

ScheduledCond encode_schedule_cached(ConditioningCache* cache, const SDModel& m, const text::ClipTokenizer& tok,
                                     const text::PromptSchedule& sched, const TextSettings& s) {
    if (!cache) return encode_schedule(m, tok, sched, s);
    const std::string key = schedule_key(sched, s);
    auto& e = cache->entries;
    for (auto it = e.begin(); it != e.end(); ++it) {
        if (it->first != key) continue;
        ++cache->hits;
        auto hit = std::move(*it);
        e.erase(it);
        e.push_front(std::move(hit));
        return e.front().second;
    }
    ++cache->misses;
    e.emplace_front(key, encode_schedule(m, tok, sched, s));
    if (e.size() > ConditioningCache::kCapacity) e.pop_back();
    return e.front().second;
}

}  // namespace

std::shared_ptr<const RunConditioning> encode_run_cached(ConditioningCache* cache, const SDModel& m,
                                                         const text::ClipTokenizer& tok, const std::string& prompt,
                                                         const std::string& negative_prompt, int steps, int batch,
                                                         double cfg_scale, const TextSettings& s,
                                                         std::optional<int> hires_steps) {
    auto rc = std::make_shared<RunConditioning>();
    rc->batch = batch;
    rc->cfg_scale = cfg_scale;
    text::ScheduleOptions so;
    so.steps = steps;
    so.hires_steps = hires_steps;
    so.use_old_scheduling = s.old_prompt_editing;
    const std::string stripped = text::parse_extra_networks(prompt).stripped;
    for (const auto& sub : text::split_and(stripped))
        rc->positive.emplace_back(encode_schedule_cached(cache, m, tok, text::prompt_schedule(sub.text, so), s), sub.weight);
    rc->negative = encode_schedule_cached(cache, m, tok, text::prompt_schedule(negative_prompt, so), s);
    rc->pad = s.pad_conds;
    rc->padded = s.padded_conds;
    rc->ngms_skipped = s.ngms_skipped;
    // A1111 pads with the encoding of "" it made when the model loaded.
    if (s.pad_conds == sampling::Guidance::Pad::kEmpty) rc->empty = encode_schedule_cached(cache, m, tok, {{1, ""}}, s).at(0);
    return rc;
}

RunConditioning encode_run(const SDModel& m, const text::ClipTokenizer& tok, const std::string& prompt,
                           const std::string& negative_prompt, int steps, int batch, double cfg_scale,
                           const TextSettings& s, std::optional<int> hires_steps) {
    return *encode_run_cached(nullptr, m, tok, prompt, negative_prompt, steps, batch, cfg_scale, s, hires_steps);
}

}  // namespace sdgimp::pipeline
