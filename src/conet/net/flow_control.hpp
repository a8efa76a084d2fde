#pragma once
/// Credit-based flow control (docs/protocol.md "Flow control") as two small
/// I/O-free state machines: the sender's window and the receiver's account
/// of what it was sent and has consumed. A stream and a circuit each have one
/// of both per direction; `net::CircuitEnd` and `net::SocketStream` only
/// carry out what these decide (stop reading, send a SENDME, fail).

#include <cstddef>
#include <cstdint>

#include "conet/util/assert.hpp"

namespace conet::net {

/// The protocol's windows (docs/protocol.md "Flow control").
inline constexpr std::int64_t stream_window_bytes = 16 << 20;
inline constexpr std::int64_t circuit_window_bytes = 16 << 20;
inline constexpr std::int64_t stream_sendme_bytes = stream_window_bytes / 4;
inline constexpr std::int64_t circuit_sendme_bytes = circuit_window_bytes / 4;
inline constexpr std::size_t max_streams_per_circuit = 1024;
static_assert(stream_window_bytes <= circuit_window_bytes);
static_assert(stream_sendme_bytes > 0 && circuit_sendme_bytes > 0);

/// What a sender may still send before the receiver grants more.
class SendWindow {
public:
    explicit SendWindow(std::int64_t size) : m_size(size), m_available(size) { CONET_ASSERT(size > 0); }

    /// Bytes that may be sent now (0 while the window is closed).
    std::size_t available() const { return m_available > 0 ? static_cast<std::size_t>(m_available) : 0; }
    bool open() const { return m_available > 0; }
    /// `n` bytes of DATA were sent; never more than `available()`.
    void consume(std::size_t n) {
        CONET_ASSERT(n <= available());
        m_available -= static_cast<std::int64_t>(n);
    }
    /// The receiver granted `credit` more. False when that is more than was
    /// ever consumed (the window would exceed its size): a protocol violation,
    /// and the window is left as it was.
    [[nodiscard]] bool grant(std::uint64_t credit) {
        if (credit > static_cast<std::uint64_t>(m_size - m_available)) return false;
        m_available += static_cast<std::int64_t>(credit);
        CONET_ASSERT(m_available <= m_size);
        return true;
    }

private:
    std::int64_t m_size;
    std::int64_t m_available;
};

/// The receiver's side: bytes received and not yet credited back, and when
/// consuming them (writing them to a socket) earns the sender a SENDME.
class RecvWindow {
public:
    RecvWindow(std::int64_t size, std::int64_t sendme_bytes) : m_size(size), m_sendme_bytes(sendme_bytes) {
        CONET_ASSERT(sendme_bytes > 0 && sendme_bytes <= size);
    }

    /// `n` bytes of DATA arrived. False when the sender went past the window
    /// (a protocol violation); the bytes are counted either way. The sender
    /// may have at most the window beyond what we granted it, so bytes
    /// consumed but not yet granted back still count.
    [[nodiscard]] bool receive(std::size_t n) {
        m_outstanding += static_cast<std::int64_t>(n);
        return m_outstanding + m_unacked <= m_size;
    }
    /// `n` received bytes were consumed. Returns the credit to grant back in a
    /// SENDME now (exactly the bytes consumed since the last one), or 0.
    [[nodiscard]] std::uint32_t consume(std::size_t n) {
        CONET_ASSERT(static_cast<std::int64_t>(n) <= m_outstanding);
        m_outstanding -= static_cast<std::int64_t>(n);
        m_unacked += static_cast<std::int64_t>(n);
        if (m_unacked < m_sendme_bytes) return 0;
        const auto credit = static_cast<std::uint32_t>(m_unacked);
        m_unacked = 0;
        return credit;
    }
    /// Received and not yet consumed.
    std::int64_t outstanding() const { return m_outstanding; }

private:
    std::int64_t m_size;
    std::int64_t m_sendme_bytes;
    std::int64_t m_outstanding = 0;  ///< received, not yet consumed
    std::int64_t m_unacked = 0;      ///< consumed, not yet granted back
};

}  // namespace conet::net
