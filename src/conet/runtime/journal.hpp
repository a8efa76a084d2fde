#pragma once
/// A crash-safe journal of records over one AppendFile (the consensus engine
/// writes what it is about to sign here, and syncs, before it signs).
///
/// Format (frozen; golden vector in tests/unit/runtime_storage_test.cpp). The
/// file is a sequence of frames, nothing before, between or after them:
///
///     u32 length   little-endian, 0 ..= journal_max_record_bytes
///     u32 crc      little-endian, CRC-32C (Castagnoli) of the 4 length bytes
///                  followed by the payload
///     payload      `length` bytes
///
/// The CRC covers the length too, so a damaged length is caught, and a run of
/// zero bytes is never a valid frame (CRC-32C of four zero bytes is not 0).
///
/// Replay and the torn-tail rule. Journal::open reads frames from offset 0
/// while they are intact (the header is complete, the length is at most
/// journal_max_record_bytes, the frame ends within the file, the CRC
/// matches). Let X be the offset where that stops. If X is the end of the
/// file, the journal is clean. Otherwise the bytes from X on are judged:
///
///   - torn tail: no intact frame starts at any byte offset in (X, end).
///     That is what a crash leaves behind: the end of the last appends was
///     written in part, garbled, or as zeros, and nothing was written after
///     it. The file is truncated back to X (durably) and the number of bytes
///     cut is reported.
///   - corruption: some intact frame starts after X. Something was written
///     after the damaged bytes, so the damage is not the unfinished end of
///     the last write but a fault in data that was (or may have been) synced
///     and acted on. Journal::open fails with a message naming the file and
///     X; the node stops rather than sign from a journal it cannot trust.
///
/// What this rule cannot do, by construction:
///   - damage inside the LAST frame (a bit flip after it was synced) looks
///     exactly like a torn write and is cut; the record is lost silently.
///   - if the OS writes unsynced pages out of order (a later page on disk,
///     an earlier one not) and several records were appended without a sync,
///     the crash leaves an intact frame after a damaged one, and open() reports
///     corruption although no synced byte was hurt: the node stops (safe,
///     not live). Callers that sync after every record (append_sync) have at
///     most one frame in flight, where this cannot happen.
///   - a payload that itself contains a valid frame, torn in the middle, is
///     reported as corruption (safe side again).
///
/// The scan for a later intact frame is linear in the bytes after X, with a
/// CRC computed only where a plausible length fits; it runs only on a
/// damaged journal.
///
/// After a failed append() or sync() the journal refuses every later write:
/// a partial frame may sit at the end, anything appended after it would turn
/// a torn tail into corruption, and a failed fdatasync cannot be retried
/// safely. The caller treats the error as fatal.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conet/runtime/storage.hpp"
#include "conet/util/bytes.hpp"
#include "conet/util/result.hpp"

namespace conet::runtime {

inline constexpr std::size_t journal_header_bytes = 8;
inline constexpr std::size_t journal_max_record_bytes = 1u << 20;  // 1 MiB
static_assert(journal_max_record_bytes <= UINT32_MAX - journal_header_bytes, "a frame's length must fit its u32");

enum class JournalErrorCode {
    storage,           ///< the storage refused a read, write, sync or truncate
    corrupt,           ///< damage before the tail (see the rule above)
    record_too_large,  ///< append() of more than journal_max_record_bytes
    failed_before,     ///< a write after an earlier append() or sync() failed
};
std::string_view describe(JournalErrorCode code);

struct JournalError {
    JournalErrorCode code;
    std::string message;  ///< for people: names the file, and the offset for corruption
};

template <class T>
using JournalResult = util::Result<T, JournalError>;

/// The pure part of replay, over the bytes of a journal file.
struct JournalScan {
    std::vector<util::Bytes> records;  ///< the intact records, in order
    std::uint64_t valid_bytes = 0;     ///< where the last intact frame ends (X above)
    bool corrupt = false;              ///< an intact frame follows the damage at valid_bytes
    std::string_view reason;           ///< why the frame at valid_bytes is not intact ("" when clean)
};
JournalScan scan_journal(util::ByteView content);

/// One framed record, as append() writes it.
util::Bytes frame_journal_record(util::ByteView payload);

struct JournalReplay;

class Journal {
public:
    /// Opens (or creates) `name` in `storage`, replays it and cuts a torn tail.
    [[nodiscard]] static JournalResult<JournalReplay> open(Storage& storage, std::string_view name);

    /// Appends one record (not yet durable).
    [[nodiscard]] JournalResult<void> append(util::ByteView record);
    /// Makes every appended record durable.
    [[nodiscard]] JournalResult<void> sync();
    /// append() then sync(): when it returns success the record survives a crash.
    [[nodiscard]] JournalResult<void> append_sync(util::ByteView record);
    /// Compaction: replaces the whole journal with `records`, atomically and
    /// durably (Storage::replace); after a crash at any moment it replays as
    /// either the old records or exactly these.
    [[nodiscard]] JournalResult<void> rewrite(std::span<const util::Bytes> records);

    const std::string& path() const { return m_file->path(); }
    std::uint64_t size_bytes() const { return m_file->size(); }

private:
    Journal(Storage& storage, std::string name, std::unique_ptr<AppendFile> file)
        : m_storage(&storage), m_name(std::move(name)), m_file(std::move(file)) {}
    JournalError storage_error(std::string_view what) const;

    Storage* m_storage;
    std::string m_name;
    std::unique_ptr<AppendFile> m_file;
    bool m_failed = false;
};

struct JournalReplay {
    Journal journal;
    std::vector<util::Bytes> records;  ///< every intact record, oldest first
    std::uint64_t cut_bytes = 0;       ///< bytes of torn tail truncated away (0 when clean)
};

}  // namespace conet::runtime
