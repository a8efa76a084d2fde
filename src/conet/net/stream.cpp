#include "conet/net/stream.hpp"

namespace conet::net {

// ---- CircuitEnd -------------------------------------------------------------------

CircuitEnd::CircuitEnd(asio::any_io_executor ex) : m_executor(ex), m_window_open(ex) {}

CircuitEnd::~CircuitEnd() = default;

void CircuitEnd::send_relay(RelayCommand command, std::uint32_t stream_id, ByteView body) {
    const std::size_t head = relay_headroom();
    util::Bytes buf;
    buf.reserve(head + relay_header_bytes + body.size() + 64);
    buf.resize(head + relay_header_bytes + body.size());
    put_relay_header(buf.data() + head, command, stream_id);
    std::copy(body.begin(), body.end(), buf.begin() + static_cast<std::ptrdiff_t>(head + relay_header_bytes));
    send_relay_buffer(std::move(buf));
}

void CircuitEnd::add_stream(std::shared_ptr<SocketStream> s) {
    const auto [it, inserted] = m_streams.insert_or_assign(s->id(), std::move(s));
    if (inserted) streams_changed(1);
}

std::shared_ptr<SocketStream> CircuitEnd::find_stream(std::uint32_t id) const {
    auto it = m_streams.find(id);
    return it == m_streams.end() ? nullptr : it->second;
}

void CircuitEnd::remove_stream(std::uint32_t id) {
    if (m_streams.erase(id)) streams_changed(-1);
}

void CircuitEnd::close_all_streams(EndReason) {
    auto streams = std::move(m_streams);
    m_streams.clear();
    if (!streams.empty()) streams_changed(-static_cast<std::ptrdiff_t>(streams.size()));
    for (auto& [id, s] : streams) s->abort();
    m_window_open.notify();
}

void CircuitEnd::reset_all_streams(EndReason reason) {
    const std::uint8_t r = static_cast<std::uint8_t>(reason);
    for (const auto& [id, s] : m_streams) send_relay(RelayCommand::reset, id, util::ByteView(&r, 1));
    close_all_streams(reason);
}

void CircuitEnd::credit_consumed(std::size_t n) {
    if (const std::uint32_t credit = m_recv_window.consume(n)) send_relay(RelayCommand::sendme, 0, encode_u32(credit));
}

bool CircuitEnd::on_stream_message(const RelayView& m) {
    if (m.command == RelayCommand::sendme && m.stream_id == 0) {
        auto credit = decode_u32(m.body);
        if (!credit || !m_send_window.grant(*credit)) return false;  // more credit than was ever used
        m_window_open.notify();
        return true;
    }
    auto stream = find_stream(m.stream_id);
    switch (m.command) {
        case RelayCommand::data:
            if (m.body.empty()) return false;
            bytes_received += m.body.size();
            if (!m_recv_window.receive(m.body.size())) return false;
            if (!stream) {
                // Data racing a RESET we sent: still counts against the window; grant it back.
                credit_consumed(m.body.size());
                return true;
            }
            on_payload(m.body.size());  // only data for a stream this end has (a proxy pays for it)
            return stream->on_data(m.body);
        case RelayCommand::end:
            if (stream) stream->on_end();
            return true;
        case RelayCommand::reset:
            if (stream) {
                remove_stream(m.stream_id);
                stream->on_reset();
            }
            return true;
        case RelayCommand::sendme: {
            auto credit = decode_u32(m.body);
            if (!credit || *credit > stream_window_bytes) return false;
            return !stream || stream->on_sendme(*credit);
        }
        default: return false;
    }
}

// ---- SocketStream ----------------------------------------------------------------

SocketStream::SocketStream(tcp::socket socket, std::uint32_t id, std::weak_ptr<CircuitEnd> circuit)
    : m_socket(std::move(socket)),
      m_id(id),
      m_circuit(std::move(circuit)),
      m_wake_writer(m_socket.get_executor()),
      m_window_open(m_socket.get_executor()) {}

SocketStream::~SocketStream() = default;

void SocketStream::start(Bytes initial) {
    if (m_started || m_closed) return;
    m_started = true;
    boost::system::error_code ec;
    m_socket.set_option(tcp::no_delay(true), ec);
    m_socket.non_blocking(true, ec);
    auto self = shared_from_this();
    // Sent as ordinary stream data by the read loop, within the windows.
    m_initial = std::move(initial);
    asio::co_spawn(
        m_socket.get_executor(), [self] { return self->read_loop(); }, asio::detached);
    asio::co_spawn(
        m_socket.get_executor(), [self] { return self->write_loop(); }, asio::detached);
}

bool SocketStream::on_data(ByteView data) {
    if (!m_core.on_data(data.size())) return false;
    if (m_closed) {
        static_cast<void>(m_core.written(data.size()));  // dropped: the stream is gone, no SENDME
        if (auto c = circuit()) c->credit_consumed(data.size());
        return true;
    }
    if (data.size() < coalesce_write_bytes && m_write_queue.size() > m_writing &&
        m_write_queue.back().size() + data.size() <= coalesce_write_bytes) {
        Bytes& last = m_write_queue.back();  // not yet handed to a write
        if (last.capacity() < coalesce_write_bytes) last.reserve(coalesce_write_bytes);
        last.insert(last.end(), data.begin(), data.end());
    } else {
        m_write_queue.emplace_back(data.begin(), data.end());
    }
    m_wake_writer.notify();
    return true;
}

void SocketStream::on_end() {
    m_core.on_end();
    m_wake_writer.notify();
}

void SocketStream::on_reset() {
    m_core.on_end();
    m_core.local_end();
    abort();
}

bool SocketStream::on_sendme(std::uint32_t bytes) {
    if (!m_core.on_sendme(bytes)) return false;
    m_window_open.notify();
    return true;
}

void SocketStream::abort() {
    if (m_closed) return;
    m_closed = true;
    // Bytes received and never written are granted back to the circuit, or
    // its window would shrink for good (the write loop stops at m_closed).
    if (const std::size_t n = m_core.unwritten()) {
        static_cast<void>(m_core.written(n));
        if (auto c = circuit()) c->credit_consumed(n);
    }
    boost::system::error_code ec;
    m_socket.close(ec);
    m_wake_writer.notify();
    m_window_open.notify();
}

void SocketStream::maybe_finish() {
    if (m_closed) return;
    if (m_core.finished()) {
        abort();
        if (auto c = circuit()) c->remove_stream(m_id);
    }
}

bool SocketStream::send_initial(CircuitEnd& c) {
    if (m_initial_sent == m_initial.size()) {
        if (!m_initial.empty()) {
            m_initial = Bytes();  // all sent: free it
            m_initial_sent = 0;
        }
        return false;
    }
    const std::size_t n = std::min(m_initial.size() - m_initial_sent, m_core.room(c.send_window()));
    CONET_ASSERT(n > 0);  // the caller waited for both windows
    c.send_relay(RelayCommand::data, m_id, util::ByteView(m_initial).subspan(m_initial_sent, n));
    m_initial_sent += n;
    m_core.sent(n);
    c.consume_send_window(n);
    c.bytes_sent += n;
    c.on_payload(n);
    return true;
}

awaitable<void> SocketStream::read_loop() {
    auto self = shared_from_this();
    while (!m_closed && !m_core.sent_end()) {
        auto c = circuit();
        if (!c) co_return;
        if (!m_core.send_window_open()) {
            co_await m_window_open.wait();
            continue;
        }
        if (c->send_window() == 0) {
            co_await c->wait_send_window();
            continue;
        }
        if (c->congested()) {
            co_await c->wait_uncongested();
            continue;
        }
        if (send_initial(*c)) continue;
        const std::size_t room = m_core.room(c->send_window());
        // Read straight into the buffer the cell will be sealed in. An idle
        // stream holds no buffer: it waits for readability instead.
        const std::size_t head = c->relay_headroom() + relay_header_bytes;
        Bytes buf;
        buf.reserve(head + room + 64);
        buf.resize(head + room);
        boost::system::error_code ec;
        std::size_t n = m_socket.read_some(asio::buffer(buf.data() + head, room), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) {
            buf = Bytes();
            c.reset();
            co_await m_socket.async_wait(tcp::socket::wait_read, use_nothrow);
            continue;
        }
        if (ec) {
            m_core.local_end();
            if (ec == asio::error::eof) {
                c->send_relay(RelayCommand::end, m_id, {});
                maybe_finish();
            } else {
                const std::uint8_t reason = static_cast<std::uint8_t>(EndReason::misc);
                c->send_relay(RelayCommand::reset, m_id, util::ByteView(&reason, 1));
                c->remove_stream(m_id);
                abort();
            }
            co_return;
        }
        if (n < small_read_bytes) {
            Bytes small;
            small.reserve(head + n + 64);
            small.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(head + n));
            buf = std::move(small);
        } else {
            buf.resize(head + n);
        }
        put_relay_header(buf.data() + c->relay_headroom(), RelayCommand::data, m_id);
        c->send_relay_buffer(std::move(buf));
        m_core.sent(n);
        c->consume_send_window(n);
        c->bytes_sent += n;
        c->on_payload(n);
    }
}

awaitable<void> SocketStream::write_loop() {
    auto self = shared_from_this();
    while (!m_closed) {
        if (m_write_queue.empty()) {
            if (m_core.shutdown_due()) {
                boost::system::error_code ec;
                m_socket.shutdown(tcp::socket::shutdown_send, ec);
                m_core.shutdown_done();
                maybe_finish();
                continue;
            }
            co_await m_wake_writer.wait();
            continue;
        }
        // Gather what is queued into one write.
        std::vector<asio::const_buffer> bufs;
        std::size_t total = 0;
        for (const auto& b : m_write_queue) {
            bufs.emplace_back(asio::buffer(b));
            total += b.size();
            if (bufs.size() >= 64) break;
        }
        const std::size_t count = bufs.size();
        m_writing = count;
        auto [ec, n] = co_await asio::async_write(m_socket, bufs, use_nothrow);
        m_writing = 0;
        if (m_closed) co_return;
        if (ec) {
            auto c = circuit();
            if (c) {
                const std::uint8_t reason = static_cast<std::uint8_t>(EndReason::misc);
                c->send_relay(RelayCommand::reset, m_id, util::ByteView(&reason, 1));
                c->remove_stream(m_id);
            }
            abort();
            co_return;
        }
        for (std::size_t i = 0; i < count; ++i) m_write_queue.pop_front();
        const std::uint32_t credit = m_core.written(total);
        if (auto c = circuit()) {
            c->credit_consumed(total);
            if (credit) c->send_relay(RelayCommand::sendme, m_id, encode_u32(credit));
        }
    }
}

}  // namespace conet::net
