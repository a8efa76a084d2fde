#pragma once
/// One end of a stream (docs/protocol.md "Streams" and "Flow control") as an
/// I/O-free state machine: both windows, half-close in each direction and
/// when the stream is finished. The adapter (`net::SocketStream` with a TCP
/// socket, the data-plane simulator with a simulated destination) moves the
/// bytes and asks the core what it may do:
///
///   socket → peer:  room() bytes may be read and sent as DATA (sent(n));
///                   the socket's EOF sends END once (local_end());
///                   the peer's SENDME reopens the window (on_sendme()).
///   peer → socket:  on_data(n) checks the window and END; written(n) after
///                   the socket took them returns the SENDME credit due;
///                   after the peer's END and the last byte written the
///                   socket's write side is shut (shutdown_due()).
///   finished():     both ENDs done and everything written.

#include <cstddef>
#include <cstdint>

#include "conet/net/cell.hpp"
#include "conet/net/flow_control.hpp"

namespace conet::net {

class StreamCore {
public:
    // ---- socket → peer
    /// Bytes that may be sent now, given the circuit's own window (0: wait).
    std::size_t room(std::size_t circuit_available) const {
        if (m_sent_end) return 0;
        const std::size_t r = m_send.available() < circuit_available ? m_send.available() : circuit_available;
        return r < max_data_bytes ? r : max_data_bytes;
    }
    bool send_window_open() const { return m_send.open(); }
    /// `n` bytes (at most room()) were sent as DATA.
    void sent(std::size_t n) {
        CONET_ASSERT(!m_sent_end && n > 0);
        m_send.consume(n);
    }
    /// The socket reached EOF: END is sent once; false if it already was.
    bool local_end() {
        if (m_sent_end) return false;
        m_sent_end = true;
        return true;
    }
    bool sent_end() const { return m_sent_end; }
    /// The peer granted `credit`; false: more than it was ever sent (a protocol error).
    [[nodiscard]] bool on_sendme(std::uint64_t credit) { return m_send.grant(credit); }

    // ---- peer → socket
    /// DATA of `n` bytes arrived. False: past the window or after the peer's
    /// END (a protocol error). On true the adapter queues the bytes.
    [[nodiscard]] bool on_data(std::size_t n) {
        if (!m_recv.receive(n) || m_peer_end) return false;
        m_unwritten += n;
        return true;
    }
    /// The peer's END: no more data will come.
    void on_end() { m_peer_end = true; }
    bool peer_end() const { return m_peer_end; }
    /// `n` queued bytes reached the socket. Returns the credit to grant back
    /// in a stream SENDME now, or 0.
    [[nodiscard]] std::uint32_t written(std::size_t n) {
        CONET_ASSERT(n <= m_unwritten);
        m_unwritten -= n;
        return m_recv.consume(n);
    }
    /// Bytes received and not yet written to the socket.
    std::size_t unwritten() const { return m_unwritten; }
    /// The peer ended and every byte is written: shut the socket's write side now.
    bool shutdown_due() const { return m_peer_end && m_unwritten == 0 && !m_write_shut; }
    void shutdown_done() {
        CONET_ASSERT(shutdown_due());
        m_write_shut = true;
    }

    /// Both directions ended and everything was written.
    bool finished() const { return m_sent_end && m_peer_end && m_write_shut; }

private:
    SendWindow m_send{stream_window_bytes};
    RecvWindow m_recv{stream_window_bytes, stream_sendme_bytes};
    std::size_t m_unwritten = 0;
    bool m_sent_end = false;
    bool m_peer_end = false;
    bool m_write_shut = false;
};

}  // namespace conet::net
