#include "conet/util/file.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2, RENAME_NOREPLACE
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>

namespace conet::util {

namespace {

FileError sys_error(FileErrorCode code, const std::filesystem::path& path) {
    return FileError{code, errno, path.string()};
}

/// Closes a file descriptor on scope exit.
class Fd {
public:
    explicit Fd(int fd) : m_fd(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (m_fd >= 0) ::close(m_fd);
    }
    int get() const { return m_fd; }
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd;
};

bool write_all(int fd, ByteView data) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        done += static_cast<std::size_t>(n);
    }
    return true;
}

std::string temp_suffix() {
    // Uniqueness only (the file is created with O_EXCL); not a secret.
    std::random_device rd;
    static constexpr char k_chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string s = ".tmp-";
    for (int i = 0; i < 12; ++i) s.push_back(k_chars[rd() % (sizeof(k_chars) - 1)]);
    return s;
}

}  // namespace

std::string FileError::message() const {
    std::string what;
    switch (code) {
        case FileErrorCode::not_found: what = "file not found"; break;
        case FileErrorCode::too_large: what = "file is too large"; break;
        case FileErrorCode::exists: what = "file already exists (refusing to overwrite)"; break;
        case FileErrorCode::io: what = "I/O error"; break;
    }
    std::string out = what + ": " + path;
    if (sys_errno != 0 && code == FileErrorCode::io) out += " (" + std::string(std::strerror(sys_errno)) + ")";
    return out;
}

Result<std::string, FileError> read_file(const std::filesystem::path& path, std::size_t max_bytes) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0)
        return unexpected(sys_error(errno == ENOENT ? FileErrorCode::not_found : FileErrorCode::io, path));
    std::string out;
    char buf[8192];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return unexpected(sys_error(FileErrorCode::io, path));
        }
        if (n == 0) break;
        if (out.size() + static_cast<std::size_t>(n) > max_bytes)
            return unexpected(FileError{FileErrorCode::too_large, 0, path.string()});
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

Result<void, FileError> write_file_atomic(const std::filesystem::path& path, ByteView data, unsigned mode,
                                          Overwrite overwrite) {
    const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    if (overwrite == Overwrite::no && ::access(path.c_str(), F_OK) == 0)
        return unexpected(FileError{FileErrorCode::exists, 0, path.string()});

    const std::filesystem::path tmp = path.string() + temp_suffix();
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (fd.get() < 0) return unexpected(sys_error(FileErrorCode::io, tmp));
    // The umask may have removed bits; it may not add any, so set the mode exactly.
    if (::fchmod(fd.get(), mode) != 0 || !write_all(fd.get(), data) || ::fsync(fd.get()) != 0) {
        FileError err = sys_error(FileErrorCode::io, tmp);
        ::unlink(tmp.c_str());
        return unexpected(err);
    }
    if (::close(fd.release()) != 0) {
        FileError err = sys_error(FileErrorCode::io, tmp);
        ::unlink(tmp.c_str());
        return unexpected(err);
    }
    const unsigned flags = overwrite == Overwrite::no ? RENAME_NOREPLACE : 0;
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), flags) != 0) {
        const FileErrorCode code = errno == EEXIST ? FileErrorCode::exists : FileErrorCode::io;
        FileError err = sys_error(code, path);
        ::unlink(tmp.c_str());
        return unexpected(err);
    }
    Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) return unexpected(sys_error(FileErrorCode::io, dir));
    return {};
}

}  // namespace conet::util
