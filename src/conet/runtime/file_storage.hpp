#pragma once
/// Storage on the real filesystem: one directory of append-only files, written
/// with POSIX calls so that what is durable is exactly what the interface
/// promises (fdatasync on sync(), ftruncate + fdatasync on truncate(), an fsync
/// of the directory when open() creates a file).

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "conet/runtime/storage.hpp"

namespace conet::runtime {

/// Files live directly in `dir`, which must exist. Files are created with mode
/// 0600 (a validator's journal is nobody else's business). One AppendFile per
/// file at a time: size() is tracked by the handle, not asked of the kernel.
class FileStorage final : public Storage {
public:
    explicit FileStorage(std::filesystem::path dir);

    [[nodiscard]] StorageResult<std::unique_ptr<AppendFile>> open(std::string_view name) override;
    /// unlink, then fsync of the directory.
    [[nodiscard]] StorageResult<void> remove(std::string_view name) override;
    /// Writes "<name>.new", fdatasync, rename over `name`, fsync of the directory.
    [[nodiscard]] StorageResult<std::unique_ptr<AppendFile>> replace(std::string_view name,
                                                                     util::ByteView content) override;
    std::string last_error() const override { return m_last_error; }
    const std::filesystem::path& dir() const { return m_dir; }

private:
    std::filesystem::path m_dir;
    std::string m_last_error;
};

}  // namespace conet::runtime
