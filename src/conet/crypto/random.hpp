#pragma once
/// Randomness sources implementing util::Rng.

#include "conet/crypto/secret.hpp"
#include "conet/util/rng.hpp"

namespace conet::crypto {

/// Must run once before threads start (main, test main, fuzz init): selects
/// libsodium's fastest implementations and makes it thread-safe. Idempotent.
void initialize();

/// The operating system's CSPRNG (libsodium randombytes).
class SystemRng final : public util::Rng {
public:
    void fill(std::span<std::uint8_t> out) override;
};

/// A reproducible stream (ChaCha20 keyed by the seed) for tests and the
/// simulator. Never use it for real keys.
class SeededRng final : public util::Rng {
public:
    explicit SeededRng(std::uint64_t seed);
    void fill(std::span<std::uint8_t> out) override;

private:
    Secret<32> m_key;
    std::uint64_t m_counter = 0;
};

}  // namespace conet::crypto
