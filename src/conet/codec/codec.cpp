#include "conet/codec/codec.hpp"

#include "conet/util/assert.hpp"

namespace conet::codec {

std::string_view describe(CodecError e) {
    switch (e) {
        case CodecError::truncated: return "input ends inside a value";
        case CodecError::trailing_bytes: return "unexpected bytes after the end of the message";
        case CodecError::too_long: return "length or count exceeds its limit";
        case CodecError::bad_bool: return "boolean byte is neither 0 nor 1";
        case CodecError::bad_value: return "field value not allowed";
    }
    return "unknown codec error";
}

void Writer::bytes(ByteView b) {
    CONET_ASSERT_MSG(b.size() <= max_length_prefix, "byte string too long for a u32 prefix");
    u32(static_cast<std::uint32_t>(b.size()));
    fixed(b);
}

void Writer::count(std::size_t n) {
    CONET_ASSERT_MSG(n <= max_length_prefix, "list too long for a u32 count");
    u32(static_cast<std::uint32_t>(n));
}

Result<ByteView> Reader::take(std::size_t n) {
    if (n > remaining()) return util::unexpected(CodecError::truncated);
    ByteView out = m_in.subspan(m_pos, n);
    m_pos += n;
    return out;
}

Result<bool> Reader::boolean() {
    auto v = u8();
    if (!v) return util::unexpected(v.error());
    if (*v > 1) return util::unexpected(CodecError::bad_bool);
    return *v == 1;
}

Result<Bytes> Reader::bytes(std::size_t max_len) {
    auto len = u32();
    if (!len) return util::unexpected(len.error());
    if (*len > max_len) return util::unexpected(CodecError::too_long);
    auto v = take(*len);
    if (!v) return util::unexpected(v.error());
    return Bytes(v->begin(), v->end());
}

Result<std::string> Reader::text(std::size_t max_len) {
    auto b = bytes(max_len);
    if (!b) return util::unexpected(b.error());
    return std::string(util::as_chars(*b));
}

Result<std::size_t> Reader::count(std::size_t max_count) {
    auto n = u32();
    if (!n) return util::unexpected(n.error());
    if (*n > max_count) return util::unexpected(CodecError::too_long);
    // Each element takes at least one byte, so a count larger than the rest
    // of the input is a lie; reject it before anyone reserves memory for it.
    if (*n > remaining()) return util::unexpected(CodecError::truncated);
    return static_cast<std::size_t>(*n);
}

Result<void> Reader::finish() const {
    if (m_pos != m_in.size()) return util::unexpected(CodecError::trailing_bytes);
    return {};
}

}  // namespace conet::codec
