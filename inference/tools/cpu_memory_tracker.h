// Counts the bytes LibTorch's CPU tensors hold while it is installed: what a GPU's caching
// allocator reports as "allocated", measured on the CPU (the benchmarks' activation peaks).
// oneDNN's own scratch buffers are not counted.
#pragma once

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace sdgimp::cli {

class CpuMemoryTracker final : public c10::Allocator {
public:
    // The one tracker, installed as LibTorch's CPU allocator for the rest of the process on first
    // use (tensors it counts may be freed at any time after).
    static CpuMemoryTracker& installed();

    c10::DataPtr allocate(size_t n) const override;
    c10::DeleterFnPtr raw_deleter() const override { return &release; }

    int64_t live() const { return live_.load(); }
    int64_t peak() const { return peak_.load(); }
    void reset_peak() { peak_.store(live_.load()); }

private:
    CpuMemoryTracker();
    // LibTorch's raw allocations need the context to be the data pointer itself, so the blocks
    // the underlying allocator made are looked up by their address.
    static void release(void* data);
    struct Block {
        c10::DataPtr inner;
        int64_t bytes;
    };
    c10::Allocator* base_;
    mutable std::mutex mutex_;
    mutable std::unordered_map<void*, Block> blocks_;
    mutable std::atomic<int64_t> live_{0}, peak_{0};
};

}  // namespace sdgimp::cli
