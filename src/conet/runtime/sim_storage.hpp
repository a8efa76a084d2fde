#pragma once
/// Storage in memory for the deterministic simulator, with the failure a
/// process crash causes on a real disk: bytes appended but not yet synced may
/// be lost, in part, with a garbled end.
///
/// Model (what crash() does to each file, in name order):
/// - synced bytes always survive, unchanged;
/// - lose_unsynced: every unsynced byte is lost;
/// - torn: a uniformly drawn prefix of the unsynced bytes survives (the OS
///   wrote part of them), and up to torn_tail_max_bytes at its end are
///   replaced by random bytes (a sector written halfway). Garbling never
///   reaches a synced byte.
/// After a crash every surviving byte counts as synced (it is on the disk
/// now), files that open() created survive (open() syncs the directory), and
/// every AppendFile handed out before the crash is dead: each of its calls
/// fails with StorageError::io, as the process that held it is gone. Open
/// the file again to go on.
///
/// Deterministic: the same operations and the same Rng stream give the same
/// bytes. Random draws happen only in crash(CrashMode::torn).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "conet/runtime/storage.hpp"
#include "conet/util/rng.hpp"

namespace conet::runtime {

enum class CrashMode {
    lose_unsynced,  ///< keep exactly the synced bytes
    torn,           ///< keep a random prefix of the unsynced bytes, its end garbled
};

/// At most this many bytes at the end of a torn write are garbled.
inline constexpr std::uint64_t torn_tail_max_bytes = 16;

class SimStorage final : public Storage {
public:
    /// `node` names the storage in paths: "sim:<node>/<name>".
    explicit SimStorage(std::string node);
    ~SimStorage() override;
    SimStorage(const SimStorage&) = delete;
    SimStorage& operator=(const SimStorage&) = delete;

    [[nodiscard]] StorageResult<std::unique_ptr<AppendFile>> open(std::string_view name) override;
    /// Atomic and durable at once (a crash keeps the old or the new file
    /// whole, as the rename on disk does); handles to the old file keep
    /// writing to a file nobody can open any more.
    [[nodiscard]] StorageResult<void> remove(std::string_view name) override;
    [[nodiscard]] StorageResult<std::unique_ptr<AppendFile>> replace(std::string_view name,
                                                                     util::ByteView content) override;
    std::string last_error() const override { return m_last_error; }

    /// Simulates a process crash and restart (see the model above).
    void crash(util::Rng& rng, CrashMode mode);

    /// Flips the bits of `xor_mask` in the byte at `offset` of an existing
    /// file (a medium fault; synced or not). A programmer error if the file
    /// or the offset does not exist, or if `xor_mask` is 0.
    void corrupt_byte(std::string_view name, std::uint64_t offset, std::uint8_t xor_mask = 0x01);

    /// Inspection for tests: all current bytes (synced or not), and how many
    /// of them are synced. nullopt when the file does not exist.
    std::optional<util::Bytes> contents(std::string_view name) const;
    std::optional<std::uint64_t> synced_bytes(std::string_view name) const;

    /// How many crashes so far; handles carry the value they were opened at.
    std::uint64_t crash_count() const;

    struct State;  // shared with the handles, which may outlive this object

private:
    std::string m_node;
    std::shared_ptr<State> m_state;
    std::string m_last_error;
};

}  // namespace conet::runtime
