#pragma once
/// Durable storage for the runtime layer (DESIGN §2): append-only files that
/// are made durable explicitly. Cores never touch files; the consensus
/// journal and other adapters use this interface, implemented on the real
/// filesystem (FileStorage) and in memory for the simulator (SimStorage,
/// which loses unsynced bytes and tears tails on a simulated crash).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "conet/util/bytes.hpp"
#include "conet/util/result.hpp"

namespace conet::runtime {

enum class StorageError {
    io,        ///< the operating system refused a read, write or sync
    bad_name,  ///< a file name with a path separator, "..", or empty
};
std::string_view describe(StorageError e);

template <class T>
using StorageResult = util::Result<T, StorageError>;

/// One append-only file. append() is not durable until sync() returns.
class AppendFile {
public:
    virtual ~AppendFile() = default;
    /// Adds bytes at the end (buffered by the OS or the simulation).
    [[nodiscard]] virtual StorageResult<void> append(util::ByteView bytes) = 0;
    /// Makes every appended byte durable (fdatasync).
    [[nodiscard]] virtual StorageResult<void> sync() = 0;
    /// The whole current content (what a restart would read after a clean stop).
    [[nodiscard]] virtual StorageResult<util::Bytes> read_all() = 0;
    /// Cuts the file to `size` bytes (at most size(); more is a programmer
    /// error) and makes that durable, with every byte left in the file.
    [[nodiscard]] virtual StorageResult<void> truncate(std::uint64_t size) = 0;
    virtual std::uint64_t size() const = 0;
    /// For messages: "<dir>/<name>" on disk, "sim:<node>/<name>" in the simulator.
    virtual const std::string& path() const = 0;
    /// What the last failing call on this file said, for people: the call, the
    /// path and the operating system's reason ("fdatasync /d/f: No space left
    /// on device"). Empty when nothing has failed.
    virtual std::string last_error() const { return {}; }
};

/// A directory of append-only files.
class Storage {
public:
    virtual ~Storage() = default;
    /// Opens `name`, creating it (and making its directory entry durable:
    /// fsync of the directory) when it does not exist.
    [[nodiscard]] virtual StorageResult<std::unique_ptr<AppendFile>> open(std::string_view name) = 0;
    /// Replaces `name` (existing or not) with exactly `content`, atomically and
    /// durably: after a crash at any moment the file holds either its old
    /// content or `content` (on disk: a temporary file written and
    /// fdatasync'ed, renamed over `name`, then the directory fsync'ed).
    /// Returns a handle for appending to the new file; handles to the old one
    /// must not be used any more (their writes reach only the old content).
    [[nodiscard]] virtual StorageResult<std::unique_ptr<AppendFile>> replace(std::string_view name,
                                                                             util::ByteView content) = 0;
    /// Deletes `name` (nothing to do when it does not exist) and makes that
    /// durable (on disk: unlink, then fsync of the directory). Handles to it
    /// must not be used any more.
    [[nodiscard]] virtual StorageResult<void> remove(std::string_view name) = 0;
    /// What the last failing open() said, for people (as AppendFile::last_error).
    virtual std::string last_error() const { return {}; }
};

/// True for a plain file name: not empty, not "." or "..", no '/' and no NUL.
/// Both implementations refuse any other name with StorageError::bad_name.
bool is_valid_file_name(std::string_view name);

}  // namespace conet::runtime
