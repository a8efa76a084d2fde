#pragma once
/// Small, careful file helpers: bounded reads and crash-safe atomic writes.

#include <cstddef>
#include <filesystem>
#include <string>

#include "conet/util/bytes.hpp"
#include "conet/util/result.hpp"

namespace conet::util {

enum class FileErrorCode { not_found, too_large, exists, io };

struct FileError {
    FileErrorCode code;
    int sys_errno = 0;  ///< errno of the failing call, 0 when not a system error
    std::string path;
    std::string message() const;
};

/// Reads a whole file, refusing files larger than `max_bytes`.
[[nodiscard]] Result<std::string, FileError> read_file(const std::filesystem::path& path, std::size_t max_bytes);

enum class Overwrite { no, yes };

/// Writes `data` to `path` so that after a crash the file is either absent (or
/// its old contents) or complete: temp file in the same directory created with
/// `mode`, fsync, rename, fsync of the directory. With Overwrite::no an existing
/// `path` is never replaced (checked atomically at rename time).
[[nodiscard]] Result<void, FileError> write_file_atomic(const std::filesystem::path& path, ByteView data, unsigned mode,
                                                        Overwrite overwrite);

}  // namespace conet::util
