#include "conet/runtime/sim_storage.hpp"

#include <algorithm>
#include <array>
#include <span>
#include <utility>

#include "conet/util/assert.hpp"

namespace conet::runtime {

namespace {

struct SimFile {
    util::Bytes bytes;
    std::uint64_t synced = 0;  ///< bytes[0, synced) survive any crash
};

/// A uniform draw in [0, bound]; deterministic for a given Rng stream. The
/// modulo bias over 64 bits is far below anything a simulation can observe.
std::uint64_t draw_up_to(util::Rng& rng, std::uint64_t bound) {
    std::array<std::uint8_t, 8> raw{};
    rng.fill(raw);
    std::uint64_t v = 0;
    for (std::uint8_t b : raw) v = (v << 8) | b;
    return bound == UINT64_MAX ? v : v % (bound + 1);
}

}  // namespace

struct SimStorage::State {
    std::map<std::string, std::shared_ptr<SimFile>, std::less<>> files;
    std::uint64_t crashes = 0;
};

namespace {

class SimAppendFile final : public AppendFile {
public:
    SimAppendFile(std::shared_ptr<SimStorage::State> state, std::shared_ptr<SimFile> file, std::string path)
        : m_state(std::move(state)), m_file(std::move(file)), m_path(std::move(path)), m_epoch(m_state->crashes) {}

    StorageResult<void> append(util::ByteView bytes) override {
        if (!alive()) return dead("append");
        util::append(m_file->bytes, bytes);
        return {};
    }
    StorageResult<void> sync() override {
        if (!alive()) return dead("sync");
        m_file->synced = m_file->bytes.size();
        return {};
    }
    StorageResult<util::Bytes> read_all() override {
        if (!alive()) return util::unexpected(dead_code("read_all"));
        return m_file->bytes;
    }
    StorageResult<void> truncate(std::uint64_t size) override {
        if (!alive()) return dead("truncate");
        CONET_ASSERT_MSG(size <= m_file->bytes.size(), "AppendFile::truncate only shortens a file");
        m_file->bytes.resize(static_cast<std::size_t>(size));
        // Like ftruncate + fdatasync: everything left in the file is durable.
        m_file->synced = m_file->bytes.size();
        return {};
    }
    std::uint64_t size() const override { return alive() ? m_file->bytes.size() : 0; }
    const std::string& path() const override { return m_path; }
    std::string last_error() const override { return m_last_error; }

private:
    bool alive() const { return m_epoch == m_state->crashes; }
    StorageError dead_code(std::string_view call) {
        m_last_error = std::string(call) + " " + m_path + ": handle opened before a simulated crash";
        return StorageError::io;
    }
    StorageResult<void> dead(std::string_view call) { return util::unexpected(dead_code(call)); }

    std::shared_ptr<SimStorage::State> m_state;
    std::shared_ptr<SimFile> m_file;
    std::string m_path;
    std::uint64_t m_epoch;
    std::string m_last_error;
};

}  // namespace

SimStorage::SimStorage(std::string node) : m_node(std::move(node)), m_state(std::make_shared<State>()) {}

SimStorage::~SimStorage() = default;

StorageResult<std::unique_ptr<AppendFile>> SimStorage::open(std::string_view name) {
    if (!is_valid_file_name(name)) {
        m_last_error = "bad file name \"" + std::string(name) + "\"";
        return util::unexpected(StorageError::bad_name);
    }
    auto it = m_state->files.find(name);
    if (it == m_state->files.end()) it = m_state->files.emplace(std::string(name), std::make_shared<SimFile>()).first;
    return std::make_unique<SimAppendFile>(m_state, it->second, "sim:" + m_node + "/" + std::string(name));
}

StorageResult<void> SimStorage::remove(std::string_view name) {
    if (!is_valid_file_name(name)) {
        m_last_error = "bad file name \"" + std::string(name) + "\"";
        return util::unexpected(StorageError::bad_name);
    }
    // Durable at once, like unlink followed by a directory fsync; open handles keep the old file.
    if (auto it = m_state->files.find(name); it != m_state->files.end()) m_state->files.erase(it);
    return {};
}

StorageResult<std::unique_ptr<AppendFile>> SimStorage::replace(std::string_view name, util::ByteView content) {
    if (!is_valid_file_name(name)) {
        m_last_error = "bad file name \"" + std::string(name) + "\"";
        return util::unexpected(StorageError::bad_name);
    }
    auto file = std::make_shared<SimFile>();
    file->bytes.assign(content.begin(), content.end());
    file->synced = file->bytes.size();
    m_state->files.insert_or_assign(std::string(name), file);
    return std::make_unique<SimAppendFile>(m_state, std::move(file), "sim:" + m_node + "/" + std::string(name));
}

void SimStorage::crash(util::Rng& rng, CrashMode mode) {
    for (auto& [name, file] : m_state->files) {  // std::map: name order, so draws are reproducible
        const std::uint64_t unsynced = file->bytes.size() - file->synced;
        std::uint64_t kept = 0;
        if (mode == CrashMode::torn && unsynced > 0) {
            kept = draw_up_to(rng, unsynced);
            const std::uint64_t garbled = draw_up_to(rng, std::min(kept, torn_tail_max_bytes));
            const std::span<std::uint8_t> tail(file->bytes.data() + (file->synced + kept - garbled),
                                               static_cast<std::size_t>(garbled));
            if (!tail.empty()) rng.fill(tail);  // a sector written halfway
        }
        file->bytes.resize(static_cast<std::size_t>(file->synced + kept));
        file->synced = file->bytes.size();
    }
    ++m_state->crashes;
}

void SimStorage::corrupt_byte(std::string_view name, std::uint64_t offset, std::uint8_t xor_mask) {
    const auto it = m_state->files.find(name);
    CONET_ASSERT_MSG(it != m_state->files.end(), "corrupt_byte: no such file");
    CONET_ASSERT_MSG(offset < it->second->bytes.size(), "corrupt_byte: offset past the end of the file");
    CONET_ASSERT_MSG(xor_mask != 0, "corrupt_byte: a zero mask changes nothing");
    it->second->bytes[static_cast<std::size_t>(offset)] ^= xor_mask;
}

std::optional<util::Bytes> SimStorage::contents(std::string_view name) const {
    const auto it = m_state->files.find(name);
    if (it == m_state->files.end()) return std::nullopt;
    return it->second->bytes;
}

std::optional<std::uint64_t> SimStorage::synced_bytes(std::string_view name) const {
    const auto it = m_state->files.find(name);
    if (it == m_state->files.end()) return std::nullopt;
    return it->second->synced;
}

std::uint64_t SimStorage::crash_count() const {
    return m_state->crashes;
}

}  // namespace conet::runtime
