#pragma once
// What the C++ benchmarks share: wall-clock seconds and the reference every
// ledger figure is printed against, the raw secp256k1 public-key recovery
// rate of one core, measured in the same run.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "conet/crypto/keys.hpp"
#include "conet/crypto/random.hpp"

namespace conet::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

/// Recoveries per second on this thread (5,000 signatures over distinct
/// digests), the best of three rounds: on a shared machine one short round
/// can land in a busy moment and flatter every ratio printed against it.
inline double recover_rate() {
    crypto::SeededRng rng(7);
    const std::size_t n_recover = 5000;
    const auto key = crypto::PrivateKey::generate(rng);
    std::vector<std::pair<crypto::Hash256, crypto::Signature>> sigs;
    for (std::size_t i = 0; i < n_recover; ++i) {
        const auto d = crypto::keccak256(util::to_bytes(std::to_string(i)));
        sigs.emplace_back(d, crypto::sign_hash(key, d));
    }
    double best = 0;
    for (int round = 0; round < 3; ++round) {
        const auto t0 = Clock::now();
        for (const auto& [d, s] : sigs)
            if (!crypto::recover(d, s)) std::abort();
        best = std::max(best, static_cast<double>(n_recover) / seconds_since(t0));
    }
    return best;
}

}  // namespace conet::bench
