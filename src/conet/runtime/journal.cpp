#include "conet/runtime/journal.hpp"

#include <algorithm>
#include <utility>

#include <boost/crc.hpp>

#include "conet/util/assert.hpp"

namespace conet::runtime {

namespace {

/// CRC-32C (Castagnoli; reflected, init and final xor all ones), as iSCSI and ext4 use.
using Crc32c = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true>;

std::uint32_t load_u32le(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

void store_u32le(std::uint8_t* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

/// CRC of the frame's length bytes followed by its payload.
std::uint32_t frame_crc(const std::uint8_t* length_bytes, util::ByteView payload) {
    Crc32c crc;
    crc.process_bytes(length_bytes, 4);
    crc.process_bytes(payload.data(), payload.size());
    return crc.checksum();
}

/// Why the frame at `offset` is not intact, or "" when it is.
std::string_view check_frame(util::ByteView content, std::size_t offset) {
    const std::size_t left = content.size() - offset;
    if (left < journal_header_bytes) return "partial header";
    const std::uint8_t* header = content.data() + offset;
    const std::uint32_t length = load_u32le(header);
    if (length > journal_max_record_bytes) return "impossible length";
    if (length > left - journal_header_bytes) return "record runs past the end of the file";
    const util::ByteView payload = content.subspan(offset + journal_header_bytes, length);
    if (frame_crc(header, payload) != load_u32le(header + 4)) return "crc mismatch";
    return {};
}

}  // namespace

std::string_view describe(JournalErrorCode code) {
    switch (code) {
        case JournalErrorCode::storage: return "the journal's storage failed";
        case JournalErrorCode::corrupt: return "the journal is corrupt before its tail";
        case JournalErrorCode::record_too_large: return "journal record too large";
        case JournalErrorCode::failed_before: return "the journal refuses writes after a failed write";
    }
    return "unknown journal error";
}

util::Bytes frame_journal_record(util::ByteView payload) {
    CONET_ASSERT(payload.size() <= journal_max_record_bytes);
    util::Bytes out(journal_header_bytes + payload.size());
    store_u32le(out.data(), static_cast<std::uint32_t>(payload.size()));
    store_u32le(out.data() + 4, frame_crc(out.data(), payload));
    std::copy(payload.begin(), payload.end(), out.begin() + journal_header_bytes);
    return out;
}

JournalScan scan_journal(util::ByteView content) {
    JournalScan scan;
    std::size_t offset = 0;
    while (offset < content.size()) {
        const std::string_view why = check_frame(content, offset);
        if (!why.empty()) {
            scan.reason = why;
            break;
        }
        const std::size_t length = load_u32le(content.data() + offset);
        const auto payload = content.subspan(offset + journal_header_bytes, length);
        scan.records.emplace_back(payload.begin(), payload.end());
        offset += journal_header_bytes + length;
    }
    scan.valid_bytes = offset;
    // Torn tail or corruption: does any intact frame start after the damage?
    for (std::size_t at = offset + 1; !scan.reason.empty() && at + journal_header_bytes <= content.size(); ++at) {
        if (check_frame(content, at).empty()) {
            scan.corrupt = true;
            break;
        }
    }
    return scan;
}

JournalResult<JournalReplay> Journal::open(Storage& storage, std::string_view name) {
    auto file = storage.open(name);
    if (!file) {
        return util::unexpected(JournalError{JournalErrorCode::storage,
                                             "journal " + std::string(name) + ": cannot open (" +
                                                 std::string(describe(file.error())) + "): " + storage.last_error()});
    }
    Journal journal(storage, std::string(name), std::move(*file));
    auto content = journal.m_file->read_all();
    if (!content) return util::unexpected(journal.storage_error("cannot read"));

    JournalScan scan = scan_journal(*content);
    if (scan.corrupt) {
        return util::unexpected(JournalError{JournalErrorCode::corrupt,
                                             "journal " + journal.path() + ": corrupt record at offset " +
                                                 std::to_string(scan.valid_bytes) + " (" + std::string(scan.reason) +
                                                 "); the node stops rather than sign from a journal it cannot trust"});
    }
    const std::uint64_t cut = content->size() - scan.valid_bytes;
    if (cut > 0) {
        if (!journal.m_file->truncate(scan.valid_bytes)) {
            return util::unexpected(journal.storage_error("cannot truncate the torn tail"));
        }
    }
    return JournalReplay{std::move(journal), std::move(scan.records), cut};
}

JournalResult<void> Journal::append(util::ByteView record) {
    if (m_failed) {
        return util::unexpected(
            JournalError{JournalErrorCode::failed_before, "journal " + path() + ": refusing to write after a failure"});
    }
    if (record.size() > journal_max_record_bytes) {
        return util::unexpected(JournalError{JournalErrorCode::record_too_large,
                                             "journal " + path() + ": record of " + std::to_string(record.size()) +
                                                 " bytes (at most " + std::to_string(journal_max_record_bytes) + ")"});
    }
    // One append call per frame, so a crash tears at most the frames in flight.
    if (!m_file->append(frame_journal_record(record))) {
        m_failed = true;
        return util::unexpected(storage_error("append failed"));
    }
    return {};
}

JournalResult<void> Journal::sync() {
    if (m_failed) {
        return util::unexpected(
            JournalError{JournalErrorCode::failed_before, "journal " + path() + ": refusing to sync after a failure"});
    }
    if (!m_file->sync()) {
        m_failed = true;
        return util::unexpected(storage_error("sync failed"));
    }
    return {};
}

JournalResult<void> Journal::append_sync(util::ByteView record) {
    if (auto appended = append(record); !appended) return appended;
    return sync();
}

JournalResult<void> Journal::rewrite(std::span<const util::Bytes> records) {
    if (m_failed) {
        return util::unexpected(JournalError{JournalErrorCode::failed_before,
                                             "journal " + path() + ": refusing to rewrite after a failure"});
    }
    util::Bytes content;
    for (const auto& r : records) {
        if (r.size() > journal_max_record_bytes)
            return util::unexpected(
                JournalError{JournalErrorCode::record_too_large,
                             "journal " + path() + ": record of " + std::to_string(r.size()) + " bytes in a rewrite"});
        util::append(content, frame_journal_record(r));
    }
    auto file = m_storage->replace(m_name, content);
    if (!file) {
        // The old file is still whole (replace is atomic), but the state of
        // the disk is unknown: stop writing, as after a failed sync.
        m_failed = true;
        return util::unexpected(JournalError{JournalErrorCode::storage, "journal " + path() + ": cannot rewrite (" +
                                                                            std::string(describe(file.error())) +
                                                                            "): " + m_storage->last_error()});
    }
    m_file = std::move(*file);
    return {};
}

JournalError Journal::storage_error(std::string_view what) const {
    return JournalError{JournalErrorCode::storage,
                        "journal " + path() + ": " + std::string(what) + ": " + m_file->last_error()};
}

}  // namespace conet::runtime
