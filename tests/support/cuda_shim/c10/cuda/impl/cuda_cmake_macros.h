// The one generated header Debian's LibTorch (CPU-only) leaves out of c10/cuda: only the build's
// compile check of the engine's CUDA branch reads it (CUDA LibTorch builds use their own).
#pragma once
#define C10_CUDA_BUILD_SHARED_LIBS
