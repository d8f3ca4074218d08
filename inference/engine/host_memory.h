// How the process's malloc treats the large, short-lived tensors of a diffusion step.
#pragma once

namespace sdgimp {

// glibc gives every freed block of 32 MiB and more (a UNet's feed-forward activations, a decoder's
// full-size maps) back to the kernel at once, and the next step faults the same amount back in as
// fresh zeroed pages: 2-3% of a UNet step on this machine kind went to that. Freed memory now stays
// in the process while it works ($GIMP_DIFFUSION_MALLOC=system keeps glibc's defaults).
void keep_freed_memory_in_process();

// Hands what is free back to the system: called when an engine call ends, so a resident engine
// does not hold its last call's peak between calls.
void release_freed_memory();

}  // namespace sdgimp
