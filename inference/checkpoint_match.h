// A1111's get_closet_checkpoint_match, which its Prompts from file (--sd_model) and X/Y plot
// ("Checkpoint name") use to turn what a user wrote into a checkpoint: first any of a file's exact
// names (file name with or without its extension, "name [hash]" with the old 8-hex hash, and where
// the file was hashed before its 10-hex shorthash, full SHA-256 and "name [shorthash]"), then the
// shortest title ("name.safetensors [shorthash]") containing the text, then the same with a
// trailing " [...]" taken off the text.
#pragma once

#include <string>
#include <vector>

namespace sdgimp {

// What A1111's CheckpointInfo knows of one file. Our model folders are flat, so its name is the
// file name (with the extension).
struct CheckpointNames {
    std::string path, name;
    std::string old_hash;  // A1111's legacy model_hash (8 hex); "" when the file cannot be read
    std::string sha256;    // from the hash cache when the file was hashed before (A1111: cache.json), else ""
    std::string title() const;
    std::vector<std::string> ids() const;
};

// The names of a file, its hashes read as A1111 has them (the old hash from 64 KiB of it; the
// whole-file SHA-256 only when remembered, never computed here).
CheckpointNames checkpoint_names(const std::string& path);

// The path of the file `search` names, or "" (A1111: "Unknown checkpoint").
std::string closest_checkpoint(const std::vector<CheckpointNames>& files, const std::string& search);
std::string closest_checkpoint(const std::vector<std::string>& paths, const std::string& search);

}  // namespace sdgimp
