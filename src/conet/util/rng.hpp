#pragma once
/// The randomness interface every core takes instead of reading a global
/// source. crypto::SystemRng is the production source; crypto::SeededRng
/// gives reproducible streams for tests and simulation.

#include <cstdint>
#include <span>

namespace conet::util {

class Rng {
public:
    virtual ~Rng() = default;
    virtual void fill(std::span<std::uint8_t> out) = 0;
};

}  // namespace conet::util
