#include "host_memory.h"

#include <cstdlib>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sdgimp {

void keep_freed_memory_in_process() {
#if defined(__GLIBC__)
    const char* env = std::getenv("GIMP_DIFFUSION_MALLOC");
    if (!env || std::string(env) != "keep") return;
    // No block is served by its own mapping (each would be unmapped on free), and the heap's top is
    // not trimmed on every free; release_freed_memory() trims when a call ends.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

void release_freed_memory() {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}

}  // namespace sdgimp
