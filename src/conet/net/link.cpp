#include "conet/net/link.hpp"

#include "conet/codec/codec.hpp"
#include "conet/net/cell.hpp"
#include "conet/net/frame_reader.hpp"

namespace conet::net {

namespace noise = crypto::noise;
using util::unexpected;

std::string_view describe(LinkError e) {
    switch (e) {
        case LinkError::connect_failed: return "connection failed";
        case LinkError::handshake_failed: return "link handshake failed";
        case LinkError::timeout: return "link handshake timed out";
        case LinkError::peer_not_allowed: return "peer is not a known relay";
    }
    return "unknown link error";
}

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
constexpr std::string_view link_prologue = "CONET link v1";

util::Bytes prologue_for(LinkKind kind) {
    util::Bytes p = util::to_bytes(link_prologue);
    p.push_back(static_cast<std::uint8_t>(kind));
    return p;
}

const char* pattern_for(LinkKind kind) {
    return kind == LinkKind::client ? "Noise_NK_25519_ChaChaPoly_BLAKE2b" : "Noise_XK_25519_ChaChaPoly_BLAKE2b";
}

void append_frame(util::Bytes& out, util::ByteView body) {
    CONET_ASSERT(body.size() <= 0xffff);
    codec::append_be(out, static_cast<std::uint16_t>(body.size()));
    util::append(out, body);
}

awaitable<bool> write_all(tcp::socket& s, util::ByteView data) {
    auto [ec, n] = co_await asio::async_write(s, asio::buffer(data.data(), data.size()), use_nothrow);
    co_return !ec;
}

awaitable<std::optional<util::Bytes>> read_frame(tcp::socket& s) {
    std::uint8_t header[frame_header_bytes];
    auto [ec, n] = co_await asio::async_read(s, asio::buffer(header), use_nothrow);
    if (ec) co_return std::nullopt;
    const std::size_t len = codec::load_be<std::uint16_t>(header);
    util::Bytes body(len);
    auto [ec2, n2] = co_await asio::async_read(s, asio::buffer(body), use_nothrow);
    if (ec2) co_return std::nullopt;
    co_return body;
}

/// Closes the socket if the handshake is not done in time.
struct HandshakeGuard {
    HandshakeGuard(const asio::any_io_executor& ex, std::shared_ptr<tcp::socket> s, std::uint32_t ms)
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
    LinkError failure() const { return *fired ? LinkError::timeout : LinkError::handshake_failed; }
    asio::steady_timer timer;
    std::shared_ptr<bool> fired;
};

}  // namespace

awaitable<util::Result<std::shared_ptr<Link>, LinkError>> Link::connect(asio::any_io_executor ex, tcp::endpoint to,
                                                                        const crypto::X25519KeyPair* our_static,
                                                                        crypto::X25519Public their_static,
                                                                        util::Rng& rng, LinkLimits limits) {
    auto socket = std::make_shared<tcp::socket>(ex);
    HandshakeGuard guard(ex, socket, limits.handshake_timeout_ms);
    auto [ec] = co_await socket->async_connect(to, use_nothrow);
    if (ec) co_return unexpected(*guard.fired ? LinkError::timeout : LinkError::connect_failed);
    socket->set_option(tcp::no_delay(true), ec);

    const LinkKind kind = our_static ? LinkKind::relay : LinkKind::client;
    auto protocol = noise::parse_protocol_name(pattern_for(kind));
    noise::HandshakeConfig config{*protocol, noise::Role::initiator, prologue_for(kind), {}, {}, their_static, {}, {}};
    if (our_static) config.s = our_static->clone();
    auto hs = noise::HandshakeState::create(std::move(config));
    if (!hs) co_return unexpected(LinkError::handshake_failed);

    auto m1 = hs->write_message({}, rng);
    if (!m1) co_return unexpected(LinkError::handshake_failed);
    util::Bytes out{static_cast<std::uint8_t>(kind)};
    append_frame(out, *m1);
    if (!co_await write_all(*socket, out)) co_return unexpected(guard.failure());
    auto m2 = co_await read_frame(*socket);
    if (!m2 || !hs->read_message(*m2)) co_return unexpected(guard.failure());
    if (!hs->finished()) {
        auto m3 = hs->write_message({}, rng);
        if (!m3) co_return unexpected(LinkError::handshake_failed);
        util::Bytes frame;
        append_frame(frame, *m3);
        if (!co_await write_all(*socket, frame)) co_return unexpected(guard.failure());
    }
    auto transport = std::move(*hs).split();
    if (!transport) co_return unexpected(LinkError::handshake_failed);
    co_return std::make_shared<Link>(std::move(*socket), std::move(*transport), kind, limits);
}

awaitable<util::Result<std::shared_ptr<Link>, LinkError>> Link::accept(std::shared_ptr<tcp::socket> socket,
                                                                       const crypto::X25519KeyPair& our_static,
                                                                       PeerCheck allow, util::Rng& rng,
                                                                       LinkLimits limits) {
    const auto ex = socket->get_executor();
    HandshakeGuard guard(ex, socket, limits.handshake_timeout_ms);
    boost::system::error_code ec;
    socket->set_option(tcp::no_delay(true), ec);

    std::uint8_t kind_byte = 0;
    auto [ec1, n1] = co_await asio::async_read(*socket, asio::buffer(&kind_byte, 1), use_nothrow);
    if (ec1) co_return unexpected(guard.failure());
    if (kind_byte != static_cast<std::uint8_t>(LinkKind::client) &&
        kind_byte != static_cast<std::uint8_t>(LinkKind::relay))
        co_return unexpected(LinkError::handshake_failed);
    const auto kind = static_cast<LinkKind>(kind_byte);

    auto protocol = noise::parse_protocol_name(pattern_for(kind));
    auto hs = noise::HandshakeState::create(
        {*protocol, noise::Role::responder, prologue_for(kind), our_static.clone(), {}, {}, {}, {}});
    if (!hs) co_return unexpected(LinkError::handshake_failed);
    auto m1 = co_await read_frame(*socket);
    if (!m1 || !hs->read_message(*m1)) co_return unexpected(guard.failure());
    auto m2 = hs->write_message({}, rng);
    if (!m2) co_return unexpected(LinkError::handshake_failed);
    util::Bytes frame;
    append_frame(frame, *m2);
    if (!co_await write_all(*socket, frame)) co_return unexpected(guard.failure());
    if (!hs->finished()) {
        auto m3 = co_await read_frame(*socket);
        if (!m3 || !hs->read_message(*m3)) co_return unexpected(guard.failure());
    }
    if (!allow(kind, hs->remote_static())) co_return unexpected(LinkError::peer_not_allowed);
    auto transport = std::move(*hs).split();
    if (!transport) co_return unexpected(LinkError::handshake_failed);
    co_return std::make_shared<Link>(std::move(*socket), std::move(*transport), kind, limits);
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
