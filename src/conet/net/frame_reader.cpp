#include "conet/net/frame_reader.hpp"

#include <algorithm>
#include <cstring>

#include "conet/codec/codec.hpp"
#include "conet/util/assert.hpp"

namespace conet::net {

std::string_view describe(FrameError e) {
    switch (e) {
        case FrameError::record_too_long: return "record longer than the limit";
    }
    return "unknown frame error";
}

FrameReader::FrameReader(std::size_t max_record_bytes, std::size_t buffer_bytes)
    : m_buf(buffer_bytes), m_max_record(max_record_bytes) {
    CONET_ASSERT(max_record_bytes <= max_frame_record_bytes);
    // A partial record must always fit, or the next read would have no room.
    CONET_ASSERT(buffer_bytes >= frame_header_bytes + max_record_bytes);
}

std::span<std::uint8_t> FrameReader::prepare() {
    if (m_failed) return {};
    if (m_begin > 0) {
        std::memmove(m_buf.data(), m_buf.data() + m_begin, m_end - m_begin);
        m_end -= m_begin;
        m_begin = 0;
    }
    return std::span<std::uint8_t>(m_buf).subspan(m_end);
}

void FrameReader::commit(std::size_t n) {
    CONET_ASSERT(n <= m_buf.size() - m_end);
    m_end += n;
}

std::size_t FrameReader::feed(util::ByteView bytes) {
    const auto space = prepare();
    const std::size_t n = std::min(space.size(), bytes.size());
    if (n > 0) std::memcpy(space.data(), bytes.data(), n);
    commit(n);
    return n;
}

util::Result<std::optional<std::span<std::uint8_t>>, FrameError> FrameReader::next() {
    if (m_failed) return util::unexpected(FrameError::record_too_long);
    const std::size_t have = m_end - m_begin;
    if (have < frame_header_bytes) return std::nullopt;
    const std::size_t len = codec::load_be<std::uint16_t>(m_buf.data() + m_begin);
    if (len > m_max_record) {
        m_failed = true;
        return util::unexpected(FrameError::record_too_long);
    }
    if (have - frame_header_bytes < len) return std::nullopt;
    std::uint8_t* record = m_buf.data() + m_begin + frame_header_bytes;
    m_begin += frame_header_bytes + len;
    // Invariant after next() returns nothing: less than one whole record is
    // buffered, so it fits at the front with room to read more.
    return std::span<std::uint8_t>(record, len);
}

}  // namespace conet::net
