#pragma once
/// Hex text <-> bytes. Parsing accepts an optional "0x"/"0X" prefix and either
/// letter case; output is lower-case.

#include <string>
#include <string_view>

#include "conet/util/bytes.hpp"
#include "conet/util/result.hpp"

namespace conet::util {

enum class HexError { odd_length, bad_digit, wrong_length };
std::string_view describe(HexError e);

std::string to_hex(ByteView bytes);
/// "0x" followed by lower-case hex.
std::string to_hex_prefixed(ByteView bytes);

[[nodiscard]] Result<Bytes, HexError> from_hex(std::string_view text);

/// Parses exactly N bytes of hex.
template <std::size_t N>
[[nodiscard]] Result<ByteArray<N>, HexError> from_hex_fixed(std::string_view text) {
    auto bytes = from_hex(text);
    if (!bytes) return unexpected(bytes.error());
    if (bytes->size() != N) return unexpected(HexError::wrong_length);
    ByteArray<N> out{};
    std::copy(bytes->begin(), bytes->end(), out.begin());
    return out;
}

}  // namespace conet::util
