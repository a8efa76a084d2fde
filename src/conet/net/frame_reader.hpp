#pragma once
/// Splits a link's byte stream into records (I/O-free, docs/protocol.md §Links):
/// every record is a u16 big-endian length followed by that many bytes.
///
/// Zero-copy: the caller reads from its socket straight into `prepare()` and
/// `commit`s what arrived; `next()` hands out each complete record as a mutable
/// view into the buffer, so the record can be decrypted in place. The reader
/// holds at most one partial record; `prepare()` moves it to the front of the
/// buffer before the next read.
///
/// Limits: a record longer than `max_record_bytes` fails the reader (and it
/// stays failed); the buffer never grows past `buffer_bytes`, which must hold
/// at least one whole record of the longest length.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "conet/util/bytes.hpp"
#include "conet/util/result.hpp"

namespace conet::net {

/// The u16 length in front of every record.
inline constexpr std::size_t frame_header_bytes = 2;
/// The longest length a header can state.
inline constexpr std::size_t max_frame_record_bytes = 0xffff;

enum class FrameError { record_too_long };
std::string_view describe(FrameError e);

class FrameReader {
public:
    /// Requires max_record_bytes <= max_frame_record_bytes and
    /// buffer_bytes >= frame_header_bytes + max_record_bytes.
    FrameReader(std::size_t max_record_bytes, std::size_t buffer_bytes);

    /// Moves the partial record (if any) to the front and returns the free
    /// space after it: the place for the next read. Never empty once next()
    /// has returned nothing (unless the reader failed). Views returned by
    /// next() are invalid afterwards.
    [[nodiscard]] std::span<std::uint8_t> prepare();
    /// `n` bytes were written at the start of the last prepare()'s span.
    void commit(std::size_t n);
    /// Copies as much of `bytes` as fits into prepare() and commits it; returns
    /// how many bytes were taken (for callers that do not read a socket).
    std::size_t feed(util::ByteView bytes);

    /// The next complete record (a view into the buffer, valid until the next
    /// prepare() or feed()), nothing while only part of one has arrived, or an
    /// error if its length is over the limit.
    [[nodiscard]] util::Result<std::optional<std::span<std::uint8_t>>, FrameError> next();

    /// Bytes received and not yet handed out by next() (header included).
    std::size_t buffered() const { return m_end - m_begin; }
    bool failed() const { return m_failed; }
    std::size_t max_record_bytes() const { return m_max_record; }

private:
    util::Bytes m_buf;
    std::size_t m_begin = 0;  ///< start of the first record not handed out
    std::size_t m_end = 0;    ///< end of the bytes received
    std::size_t m_max_record;
    bool m_failed = false;
};

}  // namespace conet::net
