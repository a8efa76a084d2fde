#pragma once
/// The canonical binary encoding (DESIGN §4) used for everything that is
/// hashed or signed:
///   - unsigned integers: fixed width, big-endian (u8, u16, u32, u64);
///   - bool: one byte, 0 or 1 (any other value is rejected);
///   - fixed-size byte strings: the bytes, no prefix;
///   - variable byte strings and UTF-8 text: u32 length, then the bytes;
///   - lists: u32 element count, then the elements.
/// Every variable length has an explicit limit chosen by the caller, and a
/// whole-message decode rejects trailing bytes, so each value has exactly one
/// encoding: decode(encode(x)) == x and encode(decode(b)) == b.

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "conet/util/bytes.hpp"
#include "conet/util/result.hpp"

namespace conet::codec {

using util::ByteArray;
using util::Bytes;
using util::ByteView;

enum class CodecError {
    truncated,       ///< input ended inside a value
    trailing_bytes,  ///< bytes left after the whole message
    too_long,        ///< a length or count exceeds the caller's limit
    bad_bool,        ///< a bool byte other than 0 or 1
    bad_value,       ///< a field value the type does not allow
};
std::string_view describe(CodecError e);

template <class T>
using Result = util::Result<T, CodecError>;

/// Big-endian fixed-width integers at a raw position, for framing code that
/// works in place (headers of cells, frames and records, store keys). The
/// caller has checked that sizeof(T) bytes are there; Writer and Reader are
/// for whole messages.
template <std::unsigned_integral T>
[[nodiscard]] constexpr T load_be(const std::uint8_t* p) noexcept {
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>((v << 8) | p[i]);
    return v;
}
template <std::unsigned_integral T>
constexpr void store_be(std::uint8_t* p, T v) noexcept {
    for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * (sizeof(T) - 1 - i)));
}
template <std::unsigned_integral T>
void append_be(Bytes& out, T v) {
    const std::size_t at = out.size();
    out.resize(at + sizeof(T));
    store_be(out.data() + at, v);
}
/// The same on `char` buffers (RocksDB keys and values).
template <std::unsigned_integral T>
[[nodiscard]] inline T load_be(const char* p) noexcept {
    return load_be<T>(reinterpret_cast<const std::uint8_t*>(p));
}
template <std::unsigned_integral T>
void append_be(std::string& out, T v) {
    std::uint8_t b[sizeof(T)];
    store_be(b, v);
    out.append(reinterpret_cast<const char*>(b), sizeof(T));
}

/// Largest length prefix the format can carry at all; callers pass smaller limits.
inline constexpr std::size_t max_length_prefix = 0xffffffffu;

class Writer {
public:
    void u8(std::uint8_t v) { m_out.push_back(v); }
    void u16(std::uint16_t v) { put_be(v, 2); }
    void u32(std::uint32_t v) { put_be(v, 4); }
    void u64(std::uint64_t v) { put_be(v, 8); }
    void boolean(bool v) { u8(v ? 1 : 0); }
    /// Raw bytes without a prefix (fixed-size fields).
    void fixed(ByteView bytes) { util::append(m_out, bytes); }
    /// u32 length, then the bytes. The caller's type guarantees size <= its limit.
    void bytes(ByteView bytes);
    void text(std::string_view s) { bytes(util::as_bytes(s)); }
    /// u32 element count; the caller then writes the elements.
    void count(std::size_t n);

    const Bytes& data() const& { return m_out; }
    Bytes take() && { return std::move(m_out); }

private:
    void put_be(std::uint64_t v, int width) {
        for (int i = width - 1; i >= 0; --i) m_out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    Bytes m_out;
};

class Reader {
public:
    explicit Reader(ByteView input) : m_in(input) {}

    [[nodiscard]] Result<std::uint8_t> u8() { return get_be<std::uint8_t>(1); }
    [[nodiscard]] Result<std::uint16_t> u16() { return get_be<std::uint16_t>(2); }
    [[nodiscard]] Result<std::uint32_t> u32() { return get_be<std::uint32_t>(4); }
    [[nodiscard]] Result<std::uint64_t> u64() { return get_be<std::uint64_t>(8); }
    [[nodiscard]] Result<bool> boolean();
    template <std::size_t N>
    [[nodiscard]] Result<ByteArray<N>> fixed() {
        auto v = take(N);
        if (!v) return util::unexpected(v.error());
        ByteArray<N> out{};
        std::copy(v->begin(), v->end(), out.begin());
        return out;
    }
    /// A length-prefixed byte string of at most `max_len` bytes.
    [[nodiscard]] Result<Bytes> bytes(std::size_t max_len);
    [[nodiscard]] Result<std::string> text(std::size_t max_len);
    /// An element count of at most `max_count`.
    [[nodiscard]] Result<std::size_t> count(std::size_t max_count);

    std::size_t remaining() const { return m_in.size() - m_pos; }
    /// Succeeds only when every byte was consumed.
    [[nodiscard]] Result<void> finish() const;

private:
    Result<ByteView> take(std::size_t n);
    template <class T>
    Result<T> get_be(std::size_t width) {
        auto v = take(width);
        if (!v) return util::unexpected(v.error());
        std::uint64_t acc = 0;
        for (std::uint8_t b : *v) acc = (acc << 8) | b;
        return static_cast<T>(acc);
    }

    ByteView m_in;
    std::size_t m_pos = 0;
};

/// A type with a canonical encoding provides
///   void encode(Writer&) const;  static Result<T> decode(Reader&);
template <class T>
concept Encodable = requires(const T& v, Writer& w, Reader& r) {
    {v.encode(w)};
    { T::decode(r) } -> std::same_as<Result<T>>;
};

template <Encodable T>
Bytes encode(const T& value) {
    Writer w;
    value.encode(w);
    return std::move(w).take();
}

/// Decodes a whole message: the value must use every byte.
template <Encodable T>
[[nodiscard]] Result<T> decode(ByteView input) {
    Reader r(input);
    auto v = T::decode(r);
    if (!v) return v;
    if (auto done = r.finish(); !done) return util::unexpected(done.error());
    return v;
}

}  // namespace conet::codec
