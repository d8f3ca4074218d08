// Holds OpenBLAS at one thread while several of our own threads each run small products (a
// threaded BLAS called from several threads at once serialises them).
#pragma once

#include <dlfcn.h>

namespace sdgimp::models {

// OpenBLAS's thread count, set to 1 for the guard's lifetime when OpenBLAS is the BLAS in use
// (looked up at run time: Debian's LibTorch reaches it through the libblas alternative).
class SingleThreadedBlas {
public:
    explicit SingleThreadedBlas(bool active) {
        using GetFn = int (*)();
        using SetFn = void (*)(int);
        static const auto get = reinterpret_cast<GetFn>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
        static const auto set = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
        if (!active || !get || !set) return;
        set_ = set;
        saved_ = get();
        if (saved_ > 1) set_(1);
    }
    ~SingleThreadedBlas() {
        if (set_ && saved_ > 1) set_(saved_);
    }
    SingleThreadedBlas(const SingleThreadedBlas&) = delete;
    SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

private:
    void (*set_)(int) = nullptr;
    int saved_ = 0;
};

}  // namespace sdgimp::models
