#pragma once
/// Streams: a TCP socket at one end of a circuit (the user's application
/// socket at the proxy, the destination socket at the exit) pumped through
/// relay messages with credit-based flow control (docs/protocol.md §Flow control).
///
/// A sender may have at most `stream_window_bytes` of DATA unacknowledged per
/// stream and `circuit_window_bytes` per circuit; the receiver grants more
/// with SENDME once it has written data to its socket. A sender that exceeds
/// a window is a protocol violator, so no hop buffers without bound.

#include <deque>
#include <map>
#include <memory>

#include "conet/net/asio.hpp"
#include "conet/net/cell.hpp"
#include "conet/net/flow_control.hpp"
#include "conet/net/stream_core.hpp"

namespace conet::net {

/// A stream's socket reads smaller than this are copied into a right-sized
/// buffer, so a destination that sends one byte at a time costs its bytes, not
/// a cell buffer per byte.
inline constexpr std::size_t small_read_bytes = 16 * 1024;
/// DATA received for the socket is appended to the last queued buffer while it
/// stays below this, so tiny DATA cells cost their bytes, not a buffer each.
inline constexpr std::size_t coalesce_write_bytes = 16 * 1024;

class SocketStream;

/// One end of a circuit's stream protocol. Subclasses seal and send relay
/// messages; this base owns the streams and the circuit-level windows.
class CircuitEnd : public std::enable_shared_from_this<CircuitEnd> {
public:
    explicit CircuitEnd(asio::any_io_executor ex);
    virtual ~CircuitEnd();

    /// Bytes a relay-message buffer keeps free in front of the message (cell
    /// header, origin marker) so it can be sealed in place.
    virtual std::size_t relay_headroom() const = 0;
    /// Seals and sends a buffer laid out as [headroom][relay header][body].
    virtual void send_relay_buffer(util::Bytes buffer) = 0;
    /// Builds the buffer for a relay message and sends it.
    void send_relay(RelayCommand command, std::uint32_t stream_id, ByteView body);
    /// The circuit is unusable (protocol violation by the other end).
    virtual void fail(EndReason reason) = 0;
    /// True while the link this end sends on holds much of this circuit's
    /// data: streams stop reading their sockets (the circuit is slowed, not
    /// destroyed) until `wait_uncongested` wakes them.
    virtual bool congested() const { return false; }
    virtual awaitable<void> wait_uncongested() { co_return; }

    /// Dispatches a stream-level relay message (DATA, END, RESET, SENDME, CONNECTED
    /// is for subclasses). Returns false for a protocol violation.
    bool on_stream_message(const RelayView& m);

    void add_stream(std::shared_ptr<SocketStream> s);
    std::shared_ptr<SocketStream> find_stream(std::uint32_t id) const;
    void remove_stream(std::uint32_t id);
    std::size_t stream_count() const { return m_streams.size(); }
    /// Closes every stream (the circuit is gone).
    void close_all_streams(EndReason reason);
    /// Sends RESET(reason) for every stream, then closes them (the circuit stays).
    void reset_all_streams(EndReason reason);

    asio::any_io_executor executor() const { return m_executor; }

protected:
    /// The number of open streams changed by `delta` (for a relay's totals).
    virtual void streams_changed(std::ptrdiff_t) {}

public:
    /// `n` bytes of stream data were sent or received on this circuit
    /// (an exit meters paid usage; a proxy counts for its receipts).
    virtual void on_payload(std::size_t) {}

    // Circuit-level flow control, used by the streams.
    std::size_t send_window() const { return m_send_window.available(); }
    void consume_send_window(std::size_t n) { m_send_window.consume(n); }
    awaitable<void> wait_send_window() { co_await m_window_open.wait(); }
    /// Data of `n` bytes was written to a socket: maybe grant the sender more.
    void credit_consumed(std::size_t n);

    std::uint64_t bytes_sent = 0, bytes_received = 0;

private:
    asio::any_io_executor m_executor;
    std::map<std::uint32_t, std::shared_ptr<SocketStream>> m_streams;
    SendWindow m_send_window{circuit_window_bytes};
    RecvWindow m_recv_window{circuit_window_bytes, circuit_sendme_bytes};
    Signal m_window_open;
};

class SocketStream : public std::enable_shared_from_this<SocketStream> {
public:
    SocketStream(tcp::socket socket, std::uint32_t id, std::weak_ptr<CircuitEnd> circuit);
    ~SocketStream();

    /// Starts pumping (after CONNECTED is sent or received). `initial` is data
    /// to send before reading the socket (e.g. a rewritten HTTP request).
    void start(Bytes initial = {});
    std::uint32_t id() const { return m_id; }
    tcp::socket& socket() { return m_socket; }

    // Events from the other end.
    bool on_data(ByteView data);  ///< false: window exceeded
    void on_end();
    void on_reset();
    bool on_sendme(std::uint32_t bytes);  ///< false: more credit than was ever used
    /// Close the socket at once (circuit gone or RESET); no message is sent.
    void abort();

private:
    awaitable<void> read_loop();
    /// Sends what the windows allow of the initial data; false once it is all sent.
    bool send_initial(CircuitEnd& c);
    awaitable<void> write_loop();
    void maybe_finish();
    std::shared_ptr<CircuitEnd> circuit() const { return m_circuit.lock(); }

    tcp::socket m_socket;
    std::uint32_t m_id;
    std::weak_ptr<CircuitEnd> m_circuit;
    std::deque<Bytes> m_write_queue;
    std::size_t m_writing = 0;  ///< buffers at the front of m_write_queue owned by a write in progress
    Signal m_wake_writer;
    Signal m_window_open;
    Bytes m_initial;  ///< data to send before reading the socket
    std::size_t m_initial_sent = 0;
    StreamCore m_core;  ///< windows and half-close: what this adapter may do
    bool m_started = false;
    bool m_closed = false;
};

}  // namespace conet::net
