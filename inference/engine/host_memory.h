// How the process's malloc treats the large, short-lived tensors of a diffusion step.
#pragma once

namespace sdgimp {

// glibc gives every freed block of 32 MiB and more (a UNet's feed-forward activations, a decoder's
// full-size maps) back to the kernel at once, and the next step faults the same amount back in as
// fresh zeroed pages. With $GIMP_DIFFUSION_MALLOC=keep freed memory stays in the process instead:
// a UNet step 3-5% faster on this machine kind, but a whole 512 image's peak RSS 0.5 GiB higher
// (8.57 against 8.07 GiB), so glibc's defaults stay the default (memory is what CPU users run out of).
void keep_freed_memory_in_process();

// Hands what is free back to the system: called when an engine call ends, so a resident engine
// does not hold its last call's peak between calls.
void release_freed_memory();

}  // namespace sdgimp
