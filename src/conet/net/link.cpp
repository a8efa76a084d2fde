#include "conet/net/link.hpp"

#include "conet/codec/codec.hpp"
#include "conet/net/cell.hpp"
#include "conet/net/frame_reader.hpp"
#include "conet/net/listener.hpp"

namespace conet::net {

namespace noise = crypto::noise;
using util::unexpected;

LinkLimits LinkLimits::from(const util::Limits& l) {
    LinkLimits out;
    out.handshake_timeout_ms = static_cast<std::uint32_t>(l.handshake_timeout_ms);
    out.keepalive_ms = static_cast<std::uint32_t>(l.keepalive_ms);
    out.idle_timeout_ms = static_cast<std::uint32_t>(l.idle_timeout_ms);
    out.max_queued_bytes = l.max_link_queue_bytes;
    out.max_circuit_queued_bytes = l.max_circuit_queue_bytes;
    return out;
}

void MemoryBudget::reclaim() {
    while (m_used > m_limit) {
        Link* biggest = nullptr;
        for (Link* l : m_links)
            if (l->is_open() && (!biggest || l->queued_bytes() > biggest->queued_bytes())) biggest = l;
        if (!biggest || biggest->queued_bytes() == 0) return;
        ++m_reclaimed;
        biggest->close("process memory budget: this peer holds the most unsent data");
    }
}

namespace {

constexpr std::size_t read_buffer_bytes = 256 * 1024;
static_assert(noise::max_message_bytes <= max_frame_record_bytes);
static_assert(read_buffer_bytes >= frame_header_bytes + noise::max_message_bytes);
constexpr std::size_t write_batch_bytes = 256 * 1024;
awaitable<bool> write_all(tcp::socket& s, util::ByteView data) {
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(data.data(), data.size()), use_nothrow);
    co_return !ec;
}

/// Closes the socket if the handshake is not done in time.
struct HandshakeGuard {
    HandshakeGuard(const asio::any_io_executor& ex, std::shared_ptr<tcp::socket> s, std::uint64_t ms)
        : timer(ex), fired(std::make_shared<bool>(false)) {
        timer.expires_after(std::chrono::milliseconds(ms));
        timer.async_wait([s, f = fired](boost::system::error_code ec) {
            if (ec) return;
            *f = true;
            boost::system::error_code ignored;
            s->close(ignored);
        });
    }
    ~HandshakeGuard() { timer.cancel(); }
    asio::steady_timer timer;
    std::shared_ptr<bool> fired;
};

runtime::TimeMs steady_now_ms() {
    return static_cast<runtime::TimeMs>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

/// Carries out a LinkHandshake on a socket: writes what it produced, reads
/// exactly what it wants next (never past the handshake), until it is done,
/// fails, or the deadline closes the socket.
awaitable<util::Result<noise::Transport, LinkError>> run_handshake(std::shared_ptr<tcp::socket> socket,
                                                                   LinkHandshake& hs, util::Rng& rng) {
    const auto now = steady_now_ms();
    HandshakeGuard guard(socket->get_executor(), socket, hs.deadline() > now ? hs.deadline() - now : 0);
    const auto failed = [&] {
        return util::unexpected(*guard.fired ? LinkError::timeout : LinkError::handshake_failed);
    };
    std::array<std::uint8_t, max_handshake_message_bytes + 2> buf;
    for (;;) {
        if (auto out = hs.take_output(); !out.empty()) {
            auto [ec, n] = co_await asio::async_write(*socket, asio::buffer(out), use_nothrow);
            if (ec) co_return failed();
        }
        if (hs.failure()) co_return util::unexpected(*hs.failure());
        if (hs.done()) co_return hs.take_transport();
        const std::size_t want = hs.wanted();
        CONET_ASSERT(want > 0 && want <= buf.size());
        auto [ec, n] = co_await asio::async_read(*socket, asio::buffer(buf.data(), want), use_nothrow);
        if (ec) co_return failed();
        const std::size_t used = hs.receive(util::ByteView(buf.data(), n), rng);
        CONET_ASSERT(used == n);
    }
}

}  // namespace

awaitable<util::Result<std::shared_ptr<Link>, LinkError>> Link::connect(asio::any_io_executor ex, tcp::endpoint to,
                                                                        const crypto::X25519KeyPair* our_static,
                                                                        crypto::X25519Public their_static,
                                                                        util::Rng& rng, LinkLimits limits) {
    // One deadline covers the connect and the handshake.
    auto hs = LinkHandshake::initiate(our_static, their_static, steady_now_ms(), limits.handshake_timeout_ms, rng);
    auto dialed = co_await dial(ex, std::span(&to, 1), limits.handshake_timeout_ms);
    if (!dialed)
        co_return unexpected(dialed.error() == DialError::timeout ? LinkError::timeout : LinkError::connect_failed);
    auto socket = std::make_shared<tcp::socket>(std::move(*dialed));
    auto transport = co_await run_handshake(socket, hs, rng);
    if (!transport) co_return unexpected(transport.error());
    co_return std::make_shared<Link>(std::move(*socket), std::move(*transport), hs.kind(), limits);
}

awaitable<util::Result<std::shared_ptr<Link>, LinkError>> Link::accept(std::shared_ptr<tcp::socket> socket,
                                                                       const crypto::X25519KeyPair& our_static,
                                                                       PeerCheck allow, util::Rng& rng,
                                                                       LinkLimits limits) {
    boost::system::error_code ec;
    socket->set_option(tcp::no_delay(true), ec);
    auto hs = LinkHandshake::respond(our_static, std::move(allow), steady_now_ms(), limits.handshake_timeout_ms);
    auto transport = co_await run_handshake(socket, hs, rng);
    if (!transport) co_return unexpected(transport.error());
    co_return std::make_shared<Link>(std::move(*socket), std::move(*transport), hs.kind(), limits);
}

Link::Link(tcp::socket socket, noise::Transport transport, LinkKind kind, LinkLimits limits)
    : m_socket(std::move(socket)),
      m_transport(std::move(transport)),
      m_kind(kind),
      m_limits(limits),
      m_queue(limits.max_queued_bytes, limits.max_circuit_queued_bytes),
      m_wake_writer(m_socket.get_executor()),
      m_drained(m_socket.get_executor()),
      m_keepalive(m_socket.get_executor()),
      m_last_received(std::chrono::steady_clock::now()),
      m_last_sent(m_last_received) {}

Link::~Link() {
    if (m_budget) {
        m_budget->release(m_charged);
        m_budget->m_links.erase(this);
    }
}

std::string Link::remote_address() const {
    boost::system::error_code ec;
    const auto ep = m_socket.remote_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

void Link::start(CellHandler on_cell, CloseHandler on_close, std::shared_ptr<MemoryBudget> budget,
                 CircuitOverflowHandler on_overflow) {
    m_on_cell = std::move(on_cell);
    m_on_close = std::move(on_close);
    m_on_overflow = std::move(on_overflow);
    m_budget = std::move(budget);
    if (m_budget) m_budget->m_links.insert(this);
    sync_budget();
    auto self = shared_from_this();
    asio::co_spawn(
        m_socket.get_executor(), [self]() { return self->read_loop(); }, asio::detached);
    asio::co_spawn(
        m_socket.get_executor(), [self]() { return self->write_loop(); }, asio::detached);
    asio::co_spawn(
        m_socket.get_executor(), [self]() { return self->keepalive_loop(); }, asio::detached);
}

void Link::sync_budget() {
    if (!m_budget) return;
    const std::size_t now = m_queue.cost();
    if (now > m_charged) {
        m_budget->charge(now - m_charged);
    } else {
        m_budget->release(m_charged - now);
    }
    m_charged = now;
}

void Link::send(util::Bytes cell) {
    if (!m_open) return;
    m_queue.push(std::move(cell));
    sync_budget();
    if (m_queue.link_overflow()) {
        close("peer does not read (send queue over limit)");
        return;
    }
    for (std::uint32_t id : m_queue.take_overflowed()) {
        // Told later, from the executor: the owner may be in the middle of
        // handling this very circuit.
        if (!m_on_overflow) continue;
        asio::post(m_socket.get_executor(), [weak = weak_from_this(), id] {
            auto self = weak.lock();
            if (self && self->m_open && self->m_on_overflow) self->m_on_overflow(id);
        });
    }
    if (m_budget && m_budget->used() > m_budget->limit()) {
        m_budget->reclaim();
        if (!m_open) return;
    }
    m_wake_writer.notify();
}

void Link::close(const std::string& reason) {
    if (!m_open) return;
    m_open = false;
    auto self = shared_from_this();  // the close handler may drop the last owner
    boost::system::error_code ignored;
    m_socket.shutdown(tcp::socket::shutdown_both, ignored);
    m_socket.close(ignored);
    m_keepalive.cancel();
    m_wake_writer.notify();
    m_drained.notify();
    m_queue.clear();
    sync_budget();
    m_on_overflow = nullptr;
    if (m_on_close) {
        auto handler = std::move(m_on_close);
        m_on_cell = nullptr;
        handler(reason);
    }
}

awaitable<void> Link::read_loop() {
    auto self = shared_from_this();
    FrameReader frames(noise::max_message_bytes, read_buffer_bytes);
    while (m_open) {
        const auto space = frames.prepare();
        auto [ec, n] = co_await m_socket.async_read_some(asio::buffer(space.data(), space.size()), use_nothrow);
        if (ec) {
            close(ec == asio::error::eof ? "closed by peer" : "read error: " + ec.message());
            co_return;
        }
        frames.commit(n);
        m_last_received = std::chrono::steady_clock::now();
        while (m_open) {
            auto next = frames.next();
            if (!next) {
                close(std::string(describe(next.error())));
                co_return;
            }
            if (!*next) break;
            std::uint8_t* record = (*next)->data();
            const std::size_t len = (*next)->size();
            // Decrypt in place: the plaintext view lives in the read buffer.
            auto plain_len = m_transport.decrypt_to(util::ByteView(record, len), record);
            if (!plain_len) {
                close("undecryptable record");
                co_return;
            }
            const util::ByteView cell(record, *plain_len);
            ++m_stats.cells_in;
            m_stats.bytes_in += len + frame_header_bytes;
            if (cell.size() >= cell_header_bytes && cell[4] == static_cast<std::uint8_t>(CellCommand::ping)) {
                util::Bytes pong(cell.begin(), cell.end());
                pong[4] = static_cast<std::uint8_t>(CellCommand::pong);
                send(std::move(pong));
                continue;
            }
            if (cell.size() >= cell_header_bytes && cell[4] == static_cast<std::uint8_t>(CellCommand::pong)) continue;
            if (m_on_cell) m_on_cell(cell);
        }
    }
}

awaitable<void> Link::write_loop() {
    auto self = shared_from_this();
    util::Bytes out;
    out.reserve(write_batch_bytes + max_cell_bytes + 64);
    while (m_open) {
        if (m_queue.empty()) {
            co_await m_wake_writer.wait();
            continue;
        }
        out.clear();
        while (out.size() < write_batch_bytes) {
            auto next = m_queue.pop();
            if (!next) break;
            util::Bytes cell = std::move(*next);
            // Frame header, then the cell sealed in place in the batch buffer.
            const std::size_t at = out.size();
            const std::size_t record_len = cell.size() + noise::tag_bytes;
            codec::append_be(out, static_cast<std::uint16_t>(record_len));
            out.insert(out.end(), cell.begin(), cell.end());
            if (auto sealed = m_transport.encrypt_in_place(out, at + frame_header_bytes); !sealed) {
                close("cannot encrypt: " + std::string(noise::describe(sealed.error())));
                co_return;
            }
            ++m_stats.cells_out;
            m_stats.bytes_out += record_len + frame_header_bytes;
        }
        m_last_sent = std::chrono::steady_clock::now();
        sync_budget();
        if (!co_await write_all(m_socket, out)) {
            close("write error");
            co_return;
        }
        m_drained.notify();
    }
}

awaitable<void> Link::keepalive_loop() {
    auto self = shared_from_this();
    const auto tick = std::chrono::milliseconds(std::max<std::uint32_t>(m_limits.keepalive_ms / 2, 10));
    while (m_open) {
        m_keepalive.expires_after(tick);
        co_await m_keepalive.async_wait(use_nothrow);
        if (!m_open) co_return;
        const auto now = std::chrono::steady_clock::now();
        if (now - m_last_received > std::chrono::milliseconds(m_limits.idle_timeout_ms)) {
            close("idle timeout");
            co_return;
        }
        if (now - m_last_sent > std::chrono::milliseconds(m_limits.keepalive_ms))
            send(encode_cell(0, CellCommand::ping, {}));
    }
}

}  // namespace conet::net
