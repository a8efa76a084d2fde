#include "conet/runtime/file_storage.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "conet/util/assert.hpp"

namespace conet::runtime {

namespace {

/// "<call> <path>: <strerror(errno)>", read before anything else touches errno.
std::string os_error(std::string_view call, const std::string& path) {
    const int err = errno;
    std::string out(call);
    out += ' ';
    out += path;
    out += ": ";
    out += std::strerror(err);
    return out;
}

/// Owns a file descriptor; closes it on destruction.
class Fd {
public:
    explicit Fd(int fd) : m_fd(fd) {}
    Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            m_fd = std::exchange(other.m_fd, -1);
        }
        return *this;
    }
    ~Fd() { reset(); }
    int get() const { return m_fd; }

private:
    void reset() {
        if (m_fd >= 0) ::close(m_fd);
        m_fd = -1;
    }
    int m_fd;
};

class PosixAppendFile final : public AppendFile {
public:
    PosixAppendFile(Fd fd, std::string path, std::uint64_t size)
        : m_fd(std::move(fd)), m_path(std::move(path)), m_size(size) {}

    StorageResult<void> append(util::ByteView bytes) override {
        std::size_t done = 0;
        while (done < bytes.size()) {
            const ssize_t n = ::write(m_fd.get(), bytes.data() + done, bytes.size() - done);
            if (n < 0) {
                if (errno == EINTR) continue;
                return fail("write");
            }
            done += static_cast<std::size_t>(n);
            m_size += static_cast<std::uint64_t>(n);
        }
        return {};
    }

    StorageResult<void> sync() override {
        // No retry on failure: after a failed fdatasync the kernel may have
        // dropped the dirty pages, so a second call could "succeed" without
        // the data ever reaching the disk.
        if (::fdatasync(m_fd.get()) != 0) return fail("fdatasync");
        return {};
    }

    StorageResult<util::Bytes> read_all() override {
        util::Bytes out;
        out.resize(static_cast<std::size_t>(m_size));
        std::size_t done = 0;
        for (;;) {
            if (done == out.size()) out.resize(out.size() + 4096);  // the file may be longer than we think
            const ssize_t n = ::pread(m_fd.get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
            if (n < 0) {
                if (errno == EINTR) continue;
                return util::unexpected(fail_code("pread"));
            }
            if (n == 0) break;
            done += static_cast<std::size_t>(n);
        }
        out.resize(done);
        m_size = done;
        return out;
    }

    StorageResult<void> truncate(std::uint64_t size) override {
        CONET_ASSERT_MSG(size <= m_size, "AppendFile::truncate only shortens a file");
        if (::ftruncate(m_fd.get(), static_cast<off_t>(size)) != 0) return fail("ftruncate");
        m_size = size;
        if (::fdatasync(m_fd.get()) != 0) return fail("fdatasync");
        return {};
    }

    std::uint64_t size() const override { return m_size; }
    const std::string& path() const override { return m_path; }
    std::string last_error() const override { return m_last_error; }

private:
    StorageError fail_code(std::string_view call) {
        m_last_error = os_error(call, m_path);
        return StorageError::io;
    }
    StorageResult<void> fail(std::string_view call) { return util::unexpected(fail_code(call)); }

    Fd m_fd;
    std::string m_path;
    std::uint64_t m_size;
    std::string m_last_error;
};

}  // namespace

FileStorage::FileStorage(std::filesystem::path dir) : m_dir(std::move(dir)) {}

StorageResult<std::unique_ptr<AppendFile>> FileStorage::open(std::string_view name) {
    if (!is_valid_file_name(name)) {
        m_last_error = "bad file name \"" + std::string(name) + "\"";
        return util::unexpected(StorageError::bad_name);
    }
    const std::string path = (m_dir / name).string();
    const auto fail = [&](std::string_view call, const std::string& what) {
        m_last_error = os_error(call, what);
        return util::unexpected(StorageError::io);
    };

    // O_EXCL first so we know whether this call created the file, and only
    // then pay for the directory fsync.
    bool created = true;
    Fd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (fd.get() < 0 && errno == EEXIST) {
        created = false;
        fd = Fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
    }
    if (fd.get() < 0) return fail("open", path);

    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail("fstat", path);
    if (!S_ISREG(st.st_mode)) {
        m_last_error = "open " + path + ": not a regular file";
        return util::unexpected(StorageError::io);
    }
    if (created) {
        // Without this the file's directory entry may not survive a crash,
        // and neither would anything we later sync into the file.
        const std::string dir = m_dir.string();
        Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir_fd.get() < 0) return fail("open", dir);
        if (::fsync(dir_fd.get()) != 0) return fail("fsync", dir);
    }
    return std::make_unique<PosixAppendFile>(std::move(fd), path, static_cast<std::uint64_t>(st.st_size));
}

StorageResult<void> FileStorage::remove(std::string_view name) {
    if (!is_valid_file_name(name)) {
        m_last_error = "bad file name \"" + std::string(name) + "\"";
        return util::unexpected(StorageError::bad_name);
    }
    const std::string path = (m_dir / name).string();
    if (::unlink(path.c_str()) != 0) {
        if (errno == ENOENT) return {};
        m_last_error = os_error("unlink", path);
        return util::unexpected(StorageError::io);
    }
    const std::string dir = m_dir.string();
    Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() < 0 || ::fsync(dir_fd.get()) != 0) {
        m_last_error = os_error("fsync", dir);
        return util::unexpected(StorageError::io);
    }
    return {};
}

StorageResult<std::unique_ptr<AppendFile>> FileStorage::replace(std::string_view name, util::ByteView content) {
    if (!is_valid_file_name(name) || !is_valid_file_name(std::string(name) + ".new")) {
        m_last_error = "bad file name \"" + std::string(name) + "\"";
        return util::unexpected(StorageError::bad_name);
    }
    const std::string path = (m_dir / name).string();
    const std::string tmp = path + ".new";
    const auto fail = [&](std::string_view call, const std::string& what) {
        m_last_error = os_error(call, what);
        return util::unexpected(StorageError::io);
    };
    // A "<name>.new" left by a crash during an earlier replace is overwritten.
    Fd fd(::open(tmp.c_str(), O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.get() < 0) return fail("open", tmp);
    std::size_t done = 0;
    while (done < content.size()) {
        const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail("write", tmp);
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fdatasync(fd.get()) != 0) return fail("fdatasync", tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename", tmp);
    // The rename is durable only once the directory is.
    const std::string dir = m_dir.string();
    Fd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir_fd.get() < 0) return fail("open", dir);
    if (::fsync(dir_fd.get()) != 0) return fail("fsync", dir);
    return std::make_unique<PosixAppendFile>(std::move(fd), path, static_cast<std::uint64_t>(content.size()));
}

}  // namespace conet::runtime
