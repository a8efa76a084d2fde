#pragma once
/// Fixed-size secret bytes that are wiped (sodium_memzero) when destroyed or
/// overwritten. Copying is explicit through `clone()` so secrets do not spread
/// by accident.

#include <cstddef>
#include <span>

#include "conet/util/bytes.hpp"

namespace conet::crypto {

namespace detail {
void wipe(void* p, std::size_t n);
}

template <std::size_t N>
class Secret {
public:
    Secret() { m_bytes.fill(0); }
    explicit Secret(util::ByteView src) {
        m_bytes.fill(0);
        std::copy_n(src.begin(), std::min(N, src.size()), m_bytes.begin());
    }
    Secret(const Secret&) = delete;
    Secret& operator=(const Secret&) = delete;
    Secret(Secret&& other) noexcept : m_bytes(other.m_bytes) { other.wipe(); }
    Secret& operator=(Secret&& other) noexcept {
        if (this != &other) {
            m_bytes = other.m_bytes;
            other.wipe();
        }
        return *this;
    }
    ~Secret() { wipe(); }

    Secret clone() const { return Secret(util::ByteView(m_bytes)); }
    void wipe() { detail::wipe(m_bytes.data(), N); }

    std::uint8_t* data() { return m_bytes.data(); }
    const std::uint8_t* data() const { return m_bytes.data(); }
    static constexpr std::size_t size() { return N; }
    util::ByteView view() const { return m_bytes; }
    std::span<std::uint8_t, N> span() { return m_bytes; }

private:
    util::ByteArray<N> m_bytes;
};

}  // namespace conet::crypto
