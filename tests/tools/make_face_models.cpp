// Writes small GFPGAN, RetinaFace and ParseNet files (tests/support/face_models.h) into a folder,
// for the GIMP workflow test's Restore Faces run:  make_face_models DIR
#include <sys/stat.h>

#include <iostream>

#include "status.h"
#include "support/face_models.h"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::cerr << "usage: make_face_models DIR\n";
        return 2;
    }
    ::mkdir(argv[1], 0755);
    try {
        sdgimp::test::write_face_models(argv[1]);
    } catch (const std::exception& e) {
        std::cerr << "make_face_models: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
