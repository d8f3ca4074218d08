#include "cpu_memory_tracker.h"

namespace sdgimp::cli {

namespace {
CpuMemoryTracker* the_tracker = nullptr;
}

CpuMemoryTracker::CpuMemoryTracker() : base_(c10::GetCPUAllocator()) { c10::SetCPUAllocator(this, /*priority=*/100); }

CpuMemoryTracker& CpuMemoryTracker::installed() {
    static CpuMemoryTracker* const tracker = the_tracker = new CpuMemoryTracker();  // never freed: blocks refer to it
    return *tracker;
}

void CpuMemoryTracker::release(void* data) {
    if (!data) return;
    c10::DataPtr inner;
    {
        std::lock_guard<std::mutex> lock(the_tracker->mutex_);
        auto it = the_tracker->blocks_.find(data);
        if (it == the_tracker->blocks_.end()) return;
        the_tracker->live_ -= it->second.bytes;
        inner = std::move(it->second.inner);
        the_tracker->blocks_.erase(it);
    }
    // `inner` frees the block through the allocator that made it as it goes out of scope.
}

c10::DataPtr CpuMemoryTracker::allocate(size_t n) const {
    c10::DataPtr inner = base_->allocate(n);
    void* data = inner.get();
    const c10::Device device = inner.device();
    if (!data) return inner;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        blocks_.emplace(data, Block{std::move(inner), static_cast<int64_t>(n)});
    }
    const int64_t now = live_ += static_cast<int64_t>(n);
    int64_t seen = peak_.load();
    while (now > seen && !peak_.compare_exchange_weak(seen, now)) {
    }
    return {data, data, &CpuMemoryTracker::release, device};
}

}  // namespace sdgimp::cli
