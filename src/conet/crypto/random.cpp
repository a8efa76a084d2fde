#include "conet/crypto/random.hpp"

#include <sodium.h>

#include "conet/util/assert.hpp"

namespace conet::crypto {

namespace detail {
void wipe(void* p, std::size_t n) {
    sodium_memzero(p, n);
}
}  // namespace detail

void initialize() {
    CONET_ASSERT_MSG(sodium_init() >= 0, "libsodium failed to initialise");
}

void SystemRng::fill(std::span<std::uint8_t> out) {
    randombytes_buf(out.data(), out.size());
}

SeededRng::SeededRng(std::uint64_t seed) {
    for (int i = 0; i < 8; ++i) m_key.data()[i] = static_cast<std::uint8_t>(seed >> (8 * i));
}

void SeededRng::fill(std::span<std::uint8_t> out) {
    // Each call uses a fresh nonce so successive calls never repeat output.
    std::uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {};
    for (int i = 0; i < 8; ++i) nonce[i] = static_cast<std::uint8_t>(m_counter >> (8 * i));
    ++m_counter;
    crypto_stream_chacha20_ietf(out.data(), out.size(), nonce, m_key.data());
}

}  // namespace conet::crypto
