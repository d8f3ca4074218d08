// The whole-file SHA-256 behind A1111's "Model hash", remembered per file as A1111's cache.json
// does: a multi-GB checkpoint is hashed once, and later loads (the next GIMP session) read the
// hash back. Entries are keyed by absolute path and only trusted while the file's stamp
// (size, inode, modification time: io::file_stamp) still matches.
#pragma once

#include <string>

#include "mapped_file.h"

namespace sdgimp::io {

// $GIMP_DIFFUSION_CACHE, else $XDG_CACHE_HOME/gimp-diffusion, else ~/.cache/gimp-diffusion; the file
// is hashes.json inside it.
std::string hash_cache_path();

// The SHA-256 (64 hex) of the file: from the cache when its entry still matches, else computed and
// stored. A cache that is missing, unreadable or malformed is treated as empty (and rewritten);
// failing to write it only costs the next load another hash.
std::string cached_sha256(const MappedFile& file);

// The file's SHA-256 when the cache holds a current entry for it, else "" (nothing is computed).
std::string remembered_sha256(const std::string& path);

}  // namespace sdgimp::io
