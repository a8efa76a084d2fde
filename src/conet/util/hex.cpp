#include "conet/util/hex.hpp"

namespace conet::util {

namespace {
constexpr char k_digits[] = "0123456789abcdef";

int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::string_view describe(HexError e) {
    switch (e) {
        case HexError::odd_length: return "hex text has an odd number of digits";
        case HexError::bad_digit: return "hex text contains a character that is not a hex digit";
        case HexError::wrong_length: return "hex text has the wrong length";
    }
    return "unknown hex error";
}

std::string to_hex(ByteView bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out.push_back(k_digits[b >> 4]);
        out.push_back(k_digits[b & 0x0f]);
    }
    return out;
}

std::string to_hex_prefixed(ByteView bytes) {
    return "0x" + to_hex(bytes);
}

Result<Bytes, HexError> from_hex(std::string_view text) {
    if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text.remove_prefix(2);
    if (text.size() % 2 != 0) return unexpected(HexError::odd_length);
    Bytes out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int hi = digit_value(text[i]);
        const int lo = digit_value(text[i + 1]);
        if (hi < 0 || lo < 0) return unexpected(HexError::bad_digit);
        out.push_back(static_cast<std::uint8_t>((hi << 4) | lo));
    }
    return out;
}

}  // namespace conet::util
