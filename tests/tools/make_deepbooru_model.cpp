// Writes a small DeepDanbooru tagger (tests/support/deepbooru_models.h) as DIR/model-resnet_custom_v3.pt,
// for the GIMP workflow test: whatever the picture, it scores "pebbles" 0.9, "rating:safe" 0.99,
// "grey_stone" 0.7 and "sky" 0.2, so A1111's default text is "grey stone, pebbles".
//   make_deepbooru_model DIR
#include <sys/stat.h>

#include <iostream>

#include "status.h"
#include "support/deepbooru_models.h"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: make_deepbooru_model DIR\n";
        return 2;
    }
    ::mkdir(argv[1], 0755);
    try {
        sdgimp::test::write_danbooru(std::string(argv[1]) + "/model-resnet_custom_v3.pt",
                                     sdgimp::test::fixed_danbooru({0.9f, 0.99f, 0.7f, 0.2f}), {"pebbles", "rating:safe", "grey_stone", "sky"});
    } catch (const std::exception& e) {
        std::cerr << "make_deepbooru_model: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
