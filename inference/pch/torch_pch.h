// Precompiled header for the LibTorch translation units: torch's headers cost ~20 s per TU.
#include <torch/torch.h>
