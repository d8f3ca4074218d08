#include "mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../status.h"

namespace sdgimp::io {

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        throw Error(err == ENOENT ? ErrorCode::kModelNotFound : ErrorCode::kBadFile,
                    path + ": cannot open the file (" + std::strerror(err) + "); check the path and its permissions.");
    }
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw_bad_file(path, "is not a regular file; choose a model file, not a folder.");
    }
    std::shared_ptr<MappedFile> f(new MappedFile());
    f->path_ = path;
    f->size_ = static_cast<size_t>(st.st_size);
    if (f->size_ > 0) {
        // Private and writable: tensors may view the mapping directly, and a write to one only ever
        // touches a private copy of the page.
        void* p = mmap(nullptr, f->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int err = errno;
            ::close(fd);
            throw_bad_file(path, std::string("cannot be memory-mapped (") + std::strerror(err) + ").");
        }
        f->data_ = static_cast<const uint8_t*>(p);
        f->mapped_ = true;
    }
    ::close(fd);
    return f;
}

std::shared_ptr<MappedFile> MappedFile::from_bytes(const uint8_t* data, size_t size, std::string name) {
    std::shared_ptr<MappedFile> f(new MappedFile());
    f->owned_.reset(new uint8_t[size == 0 ? 1 : size]);
    if (size) std::memcpy(f->owned_.get(), data, size);
    f->data_ = f->owned_.get();
    f->size_ = size;
    f->path_ = std::move(name);
    return f;
}

MappedFile::~MappedFile() {
    if (mapped_) munmap(const_cast<uint8_t*>(data_), size_);
}

std::string file_stamp(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return {};
    return std::to_string(static_cast<long long>(st.st_size)) + ":" + std::to_string(static_cast<long long>(st.st_ino)) +
           ":" + std::to_string(static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec);
}

}  // namespace sdgimp::io
