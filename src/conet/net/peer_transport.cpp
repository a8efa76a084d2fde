#include "conet/net/peer_transport.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <set>

#include "conet/codec/codec.hpp"
#include "conet/net/listener.hpp"
#include "conet/util/assert.hpp"

namespace conet::net {

namespace noise = crypto::noise;
using runtime::PeerId;
using util::unexpected;

// ---- PeerSession -------------------------------------------------------------------------

namespace {

/// u16 record length in front of every handshake message and transport record.
constexpr std::size_t record_header_bytes = 2;
constexpr std::size_t hello_record_bytes = validator_hello_bytes + noise::tag_bytes;
constexpr std::size_t length_prefix_bytes = 4;

static_assert(validator_chunk_bytes > length_prefix_bytes);
static_assert(validator_chunk_bytes + noise::tag_bytes <= noise::max_message_bytes);
static_assert(noise::max_message_bytes <= 0xffff, "a record length fits the u16 header");
static_assert(hello_record_bytes <= noise::max_message_bytes);

void put_record_length(util::Bytes& out, std::size_t at, std::size_t len) {
    codec::store_be(out.data() + at, static_cast<std::uint16_t>(len));
}

void append_record(util::Bytes& out, util::ByteView body) {
    const std::size_t at = out.size();
    out.resize(at + record_header_bytes);
    put_record_length(out, at, body.size());
    util::append(out, body);
}

}  // namespace

std::string_view describe(PeerError e) {
    switch (e) {
        case PeerError::handshake_failed: return "Noise handshake failed";
        case PeerError::bad_hello: return "malformed or undecryptable hello";
        case PeerError::unknown_validator: return "hello is signed by no validator this node knows";
        case PeerError::own_address: return "hello is signed by our own key";
        case PeerError::unexpected_peer: return "hello is from another validator than the one dialed";
        case PeerError::wrong_signer: return "hello not signed by that validator for this session and chain";
        case PeerError::message_too_long: return "message longer than the limit";
        case PeerError::decrypt_failed: return "record failed authentication";
        case PeerError::bad_chunking: return "message records of the wrong size";
        case PeerError::unexpected_data: return "data received on a send-only connection";
        case PeerError::not_ready: return "session cannot send";
        case PeerError::cipher_failed: return "encryption failed";
    }
    return "unknown peer error";
}

crypto::Hash256 validator_hello_digest(std::uint64_t chain_id, const noise::HandshakeHash& handshake_hash) {
    codec::Writer chain;
    chain.u64(chain_id);
    crypto::Keccak256 h;
    h.update(util::as_bytes(validator_hello_domain));
    h.update(chain.data());
    h.update(handshake_hash);
    return h.finish();
}

PeerSession::PeerSession(Role role, std::shared_ptr<const ValidatorIdentity> identity, std::size_t max_message_bytes,
                         noise::HandshakeState hs)
    : m_role(role), m_identity(std::move(identity)), m_max_message_bytes(max_message_bytes), m_hs(std::move(hs)) {}

namespace {

util::Result<noise::HandshakeState, PeerError> new_handshake(noise::Role role) {
    auto protocol = noise::parse_protocol_name(validator_link_protocol);
    CONET_ASSERT(protocol.has_value());
    noise::HandshakeConfig config{
        std::move(*protocol), role, util::to_bytes(validator_link_prologue), {}, {}, {}, {}, {}};
    auto hs = noise::HandshakeState::create(std::move(config));
    if (!hs) return unexpected(PeerError::handshake_failed);
    return std::move(*hs);
}

}  // namespace

util::Result<PeerSession, PeerError> PeerSession::dial(std::shared_ptr<const ValidatorIdentity> identity, PeerId peer,
                                                       std::size_t max_message_bytes, util::Rng& rng) {
    CONET_ASSERT(identity != nullptr);
    auto hs = new_handshake(noise::Role::initiator);
    if (!hs) return unexpected(hs.error());
    PeerSession s(Role::dialer, std::move(identity), max_message_bytes, std::move(*hs));
    s.m_peer = peer;
    auto m1 = s.m_hs->write_message({}, rng);
    if (!m1) return unexpected(PeerError::handshake_failed);
    CONET_ASSERT(m1->size() == validator_handshake1_bytes);
    append_record(s.m_out, *m1);
    return s;
}

util::Result<PeerSession, PeerError> PeerSession::accept(std::shared_ptr<const ValidatorIdentity> identity,
                                                         std::size_t max_message_bytes) {
    CONET_ASSERT(identity != nullptr);
    auto hs = new_handshake(noise::Role::responder);
    if (!hs) return unexpected(hs.error());
    return PeerSession(Role::acceptor, std::move(identity), max_message_bytes, std::move(*hs));
}

util::Result<void, PeerError> PeerSession::fail(PeerError e) {
    m_phase = Phase::failed;
    m_error = e;
    m_hs.reset();
    m_transport.reset();
    m_in.clear();
    m_message.clear();
    return unexpected(e);
}

bool PeerSession::record_length_ok(std::size_t len) const {
    switch (m_phase) {
        case Phase::handshake:
            return len == (m_role == Role::acceptor ? validator_handshake1_bytes : validator_handshake2_bytes);
        case Phase::hello: return len == hello_record_bytes;
        case Phase::established: return m_role == Role::acceptor;  // the u16 header bounds it
        case Phase::failed: return false;
    }
    return false;
}

util::Result<std::vector<util::Bytes>, PeerError> PeerSession::receive(util::ByteView bytes, util::Rng& rng) {
    std::vector<util::Bytes> messages;
    if (m_error) return unexpected(*m_error);
    if (bytes.empty()) return messages;
    util::append(m_in, bytes);
    std::size_t pos = 0;
    while (m_in.size() - pos >= record_header_bytes) {
        const std::size_t len = codec::load_be<std::uint16_t>(m_in.data() + pos);
        // Checked on the header alone: a peer cannot make us wait for (and
        // buffer) a record this phase does not allow.
        if (!record_length_ok(len)) {
            PeerError e = PeerError::bad_chunking;
            if (m_phase == Phase::handshake) e = PeerError::handshake_failed;
            if (m_phase == Phase::hello) e = PeerError::bad_hello;
            if (m_phase == Phase::established && m_role == Role::dialer) e = PeerError::unexpected_data;
            return unexpected(fail(e).error());
        }
        if (m_in.size() - pos - record_header_bytes < len) break;
        const std::span<std::uint8_t> record(m_in.data() + pos + record_header_bytes, len);
        pos += record_header_bytes + len;
        if (auto r = on_record(record, rng, messages); !r) return unexpected(fail(r.error()).error());
    }
    m_in.erase(m_in.begin(), m_in.begin() + static_cast<std::ptrdiff_t>(pos));
    return messages;
}

util::Result<void, PeerError> PeerSession::on_record(std::span<std::uint8_t> record, util::Rng& rng,
                                                     std::vector<util::Bytes>& messages) {
    switch (m_phase) {
        case Phase::handshake: {
            if (!m_hs->read_message(record)) return unexpected(PeerError::handshake_failed);
            if (m_role == Role::acceptor) {
                auto m2 = m_hs->write_message({}, rng);
                if (!m2) return unexpected(PeerError::handshake_failed);
                CONET_ASSERT(m2->size() == validator_handshake2_bytes);
                append_record(m_out, *m2);
            }
            // NN has two messages: either side is done here.
            if (!m_hs->finished()) return unexpected(PeerError::handshake_failed);
            return finish_handshake();
        }
        case Phase::hello: {
            auto plain_len = m_transport->decrypt_to(record, record.data());
            if (!plain_len || *plain_len != validator_hello_bytes) return unexpected(PeerError::bad_hello);
            if (auto r = check_hello(util::ByteView(record.data(), *plain_len)); !r) return r;
            m_phase = Phase::established;
            return {};
        }
        case Phase::established: {
            if (m_role != Role::acceptor) return unexpected(PeerError::unexpected_data);
            auto plain_len = m_transport->decrypt_to(record, record.data());
            if (!plain_len) return unexpected(PeerError::decrypt_failed);
            return on_chunk(util::ByteView(record.data(), *plain_len), messages);
        }
        case Phase::failed: break;
    }
    return unexpected(m_error.value_or(PeerError::handshake_failed));
}

util::Result<void, PeerError> PeerSession::finish_handshake() {
    const noise::HandshakeHash h = m_hs->handshake_hash();
    auto transport = std::move(*m_hs).split();
    m_hs.reset();
    if (!transport) return unexpected(PeerError::handshake_failed);
    m_transport.emplace(std::move(*transport));

    // Our hello: who we are, bound to this session's handshake hash.
    const auto sig = crypto::sign_hash(m_identity->key, validator_hello_digest(m_identity->chain_id, h));
    codec::Writer w;
    w.fixed(sig.to_bytes(0));
    util::Bytes hello = std::move(w).take();
    CONET_ASSERT(hello.size() == validator_hello_bytes);
    const std::size_t at = m_out.size();
    m_out.resize(at + record_header_bytes);
    util::append(m_out, hello);
    if (!m_transport->encrypt_in_place(m_out, at + record_header_bytes)) return unexpected(PeerError::cipher_failed);
    put_record_length(m_out, at, m_out.size() - at - record_header_bytes);
    m_phase = Phase::hello;
    return {};
}

util::Result<void, PeerError> PeerSession::check_hello(util::ByteView plaintext) {
    const auto& validators = m_identity->validators;
    auto sig = crypto::Signature::from_bytes(plaintext);
    if (!sig) return unexpected(PeerError::bad_hello);
    // Both ends hold the same handshake hash; a hello made for any other
    // session (or chain) recovers some other address.
    auto signer = crypto::recover(validator_hello_digest(m_identity->chain_id, m_transport->handshake_hash()), *sig);
    if (!signer) return unexpected(PeerError::wrong_signer);
    const crypto::Address from = signer->address();
    if (m_role == Role::dialer) {
        if (from != validators[*m_peer]) return unexpected(PeerError::unexpected_peer);
        return {};
    }
    if (from == validators[m_identity->self]) return unexpected(PeerError::own_address);
    const auto it = std::find(validators.begin(), validators.end(), from);
    if (it == validators.end()) return unexpected(PeerError::unknown_validator);
    m_peer = static_cast<PeerId>(it - validators.begin());
    return {};
}

util::Result<void, PeerError> PeerSession::on_chunk(util::ByteView plain, std::vector<util::Bytes>& messages) {
    if (!m_in_message) {
        if (plain.size() < length_prefix_bytes) return unexpected(PeerError::bad_chunking);
        const std::size_t len = codec::load_be<std::uint32_t>(plain.data());
        if (len > m_max_message_bytes) return unexpected(PeerError::message_too_long);
        // Canonical chunking: every record is full except the last.
        if (plain.size() != std::min(validator_chunk_bytes, length_prefix_bytes + len))
            return unexpected(PeerError::bad_chunking);
        m_message.clear();
        m_message.reserve(len);  // bounded by max_message_bytes, and the peer is authenticated
        m_message.insert(m_message.end(), plain.begin() + length_prefix_bytes, plain.end());
        m_message_left = len - (plain.size() - length_prefix_bytes);
        m_in_message = true;
    } else {
        if (plain.size() != std::min(validator_chunk_bytes, m_message_left)) return unexpected(PeerError::bad_chunking);
        util::append(m_message, plain);
        m_message_left -= plain.size();
    }
    if (m_message_left == 0) {
        messages.push_back(std::move(m_message));
        m_message = {};
        m_in_message = false;
    }
    return {};
}

std::size_t PeerSession::sealed_bytes(std::size_t message_bytes) {
    const std::size_t stream = length_prefix_bytes + message_bytes;
    const std::size_t records = (stream + validator_chunk_bytes - 1) / validator_chunk_bytes;
    return stream + records * (record_header_bytes + noise::tag_bytes);
}

util::Result<void, PeerError> PeerSession::seal(util::ByteView message, util::Bytes& out) {
    if (m_role != Role::dialer || m_phase != Phase::established) return unexpected(PeerError::not_ready);
    if (message.size() > m_max_message_bytes) return unexpected(PeerError::message_too_long);
    const std::size_t start = out.size();
    out.reserve(start + sealed_bytes(message.size()));
    codec::Writer prefix;
    prefix.u32(static_cast<std::uint32_t>(message.size()));
    std::size_t taken = 0;  // message bytes sealed so far
    bool first = true;
    while (first || taken < message.size()) {
        const std::size_t at = out.size();
        out.resize(at + record_header_bytes);
        std::size_t room = validator_chunk_bytes;
        if (first) {
            util::append(out, prefix.data());
            room -= length_prefix_bytes;
            first = false;
        }
        const std::size_t n = std::min(room, message.size() - taken);
        util::append(out, message.subspan(taken, n));
        taken += n;
        if (!m_transport->encrypt_in_place(out, at + record_header_bytes)) {
            out.resize(start);
            return unexpected(fail(PeerError::cipher_failed).error());
        }
        put_record_length(out, at, out.size() - at - record_header_bytes);
    }
    return {};
}

// ---- PeerTransport -----------------------------------------------------------------------

std::string_view describe(PeerTransportError e) {
    switch (e) {
        case PeerTransportError::bad_config: return "validator transport: endpoints, validators and self do not match";
        case PeerTransportError::key_mismatch: return "validator transport: our key is not validators[self]";
        case PeerTransportError::bad_limits: return "validator transport: inconsistent limits";
        case PeerTransportError::listen_failed: return "validator transport: cannot listen on our endpoint";
    }
    return "unknown validator transport error";
}

namespace {

/// Bytes read from a socket per call.
constexpr std::size_t read_chunk_bytes = 64 * 1024;
/// Messages are sealed into one write buffer up to about this size (a larger
/// message is written alone).
constexpr std::size_t write_batch_bytes = 256 * 1024;
/// After accept() fails (e.g. out of file descriptors), wait this long.
constexpr std::uint32_t accept_retry_ms = 100;
/// Warnings a peer can trigger (failed inbound handshakes) are logged at
/// most once per this interval; the others are counted and summarised.
constexpr std::uint64_t warn_interval_ms = 1'000;
/// An outbound connection closed sooner than this after authenticating counts as a failed attempt.
constexpr std::uint64_t stable_connection_ms = 1'000;

static_assert(PeerTransportLimits{}.max_message_bytes >= (8u << 20) + 4096, "an 8 MiB block fits in a message");
static_assert(PeerTransportLimits{}.max_queue_bytes_per_peer >= PeerTransportLimits{}.max_message_bytes,
              "a queue holds at least one message of the largest size");
static_assert(PeerTransportLimits{}.max_message_bytes <= 0xffffffffu, "a message length fits its u32 prefix");
static_assert(PeerTransportLimits{}.reconnect_initial_ms <= PeerTransportLimits{}.reconnect_max_ms);

std::uint64_t steady_ms() {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count());
}

std::string endpoint_text(const tcp::socket& s) {
    boost::system::error_code ec;
    const auto ep = s.remote_endpoint(ec);
    if (ec) return "?";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
}

/// Closes a socket when a handshake takes too long.
class Deadline {
public:
    Deadline(const asio::any_io_executor& ex, std::shared_ptr<tcp::socket> socket, std::uint32_t ms)
        : m_timer(ex), m_fired(std::make_shared<bool>(false)) {
        m_timer.expires_after(std::chrono::milliseconds(ms));
        m_timer.async_wait([socket = std::move(socket), fired = m_fired](boost::system::error_code ec) {
            if (ec) return;
            *fired = true;
            boost::system::error_code ignored;
            socket->close(ignored);
        });
    }
    ~Deadline() { m_timer.cancel(); }
    void cancel() { m_timer.cancel(); }
    bool fired() const { return *m_fired; }

private:
    asio::steady_timer m_timer;
    std::shared_ptr<bool> m_fired;
};

}  // namespace

util::Result<void, PeerTransportError> PeerTransport::check(const PeerTransportConfig& c,
                                                            const crypto::PrivateKey& key) {
    if (c.validators.empty() || c.endpoints.size() != c.validators.size() || c.self >= c.validators.size())
        return unexpected(PeerTransportError::bad_config);
    for (std::size_t i = 0; i < c.validators.size(); ++i)
        if (std::find(c.validators.begin() + static_cast<std::ptrdiff_t>(i) + 1, c.validators.end(), c.validators[i]) !=
            c.validators.end())
            return unexpected(PeerTransportError::bad_config);
    if (key.address() != c.validators[c.self]) return unexpected(PeerTransportError::key_mismatch);
    const auto& l = c.limits;
    if (l.max_message_bytes == 0 || l.max_message_bytes > 0xffffffffu ||
        l.max_queue_bytes_per_peer < l.max_message_bytes || l.handshake_timeout_ms == 0 ||
        l.reconnect_initial_ms == 0 || l.reconnect_max_ms < l.reconnect_initial_ms)
        return unexpected(PeerTransportError::bad_limits);
    return {};
}

struct PeerTransport::Impl : std::enable_shared_from_this<Impl> {
    /// Our side of the connection to one peer (we only send on it).
    struct Outbound {
        explicit Outbound(const asio::any_io_executor& ex) : wake(ex), retry(ex) {}
        std::deque<util::Bytes> queue;  ///< messages not yet sealed, oldest first
        std::size_t queued_bytes = 0;
        std::shared_ptr<tcp::socket> socket;  ///< the current attempt or connection
        Signal wake;                          ///< wakes the writer: queue, close or stop
        asio::steady_timer retry;             ///< the backoff wait
        bool established = false;
        bool failing = false;      ///< failures since the last success were already logged
        std::string close_reason;  ///< why the watcher closed the connection
        bool dialer_started = false;
        std::uint64_t established_ms = 0;  ///< steady time of the last authentication
        bool refused = false;              ///< the last connection closed right after the handshake
        bool active = true;                ///< dialed and sent to (set_active)
    };
    /// A connection a peer opened to us (we only receive on it).
    struct Inbound {
        explicit Inbound(tcp::socket s) : socket(std::make_shared<tcp::socket>(std::move(s))) {}
        std::shared_ptr<tcp::socket> socket;
        std::string remote;
        void close() {
            boost::system::error_code ignored;
            socket->shutdown(tcp::socket::shutdown_both, ignored);
            socket->close(ignored);
        }
    };

    Impl(asio::any_io_executor executor, PeerTransportConfig cfg, crypto::PrivateKey key, util::Rng& r)
        : ex(std::move(executor)),
          config(std::move(cfg)),
          identity(std::make_shared<const ValidatorIdentity>(
              ValidatorIdentity{config.chain_id, config.self, config.validators, std::move(key)})),
          rng(r),
          inbound(config.validators.size()) {
        max_unauthenticated = config.limits.max_unauthenticated_inbound != 0
                                  ? config.limits.max_unauthenticated_inbound
                                  : 2 * static_cast<std::uint32_t>(config.validators.size());
        for (PeerId p = 0; p < config.validators.size(); ++p) outbound.push_back(std::make_unique<Outbound>(ex));
    }

    std::uint32_t n() const { return static_cast<std::uint32_t>(config.validators.size()); }
    /// Starts `peer`'s dialer once we dial and its endpoint is known.
    void maybe_dial(PeerId peer);
    PeerId add_peer(const crypto::Address& validator, PeerAddress address);
    void set_active(PeerId peer, bool active);

    util::Result<std::uint16_t, PeerTransportError> listen();
    void start_dialing();
    void stop();
    void send(PeerId to, util::ByteView message);
    void deliver(PeerId from, util::ByteView message);

    void on_accept(tcp::socket socket);
    awaitable<void> run_inbound(std::shared_ptr<Inbound> conn);
    awaitable<void> dial_loop(PeerId peer);
    /// One outbound connection from connect to close; returns why it ended.
    awaitable<std::string> run_outbound(PeerId peer);
    awaitable<void> watch_outbound(std::shared_ptr<tcp::socket> socket, PeerId peer);
    std::uint32_t jittered(std::uint32_t delay_ms);
    /// A warning a peer can trigger: at most one per warn_interval_ms.
    void warn_limited(const std::string& line);

    asio::any_io_executor ex;
    PeerTransportConfig config;
    std::shared_ptr<const ValidatorIdentity> identity;
    util::Rng& rng;
    Handler handler;
    PeerTransportStats stats;
    std::uint32_t max_unauthenticated = 0;
    bool stopped = false;
    bool dialing = false;
    std::unique_ptr<Listener> acceptor;
    std::uint16_t bound_port = 0;
    std::vector<std::unique_ptr<Outbound>> outbound;  ///< by peer index (ours unused)
    std::vector<std::shared_ptr<Inbound>> inbound;    ///< authenticated, by peer index
    std::set<std::shared_ptr<Inbound>> unauthenticated;
    std::uint64_t last_warn_ms = 0;
    std::uint64_t warnings_suppressed = 0;
};

void PeerTransport::Impl::warn_limited(const std::string& line) {
    const std::uint64_t now = steady_ms();
    if (last_warn_ms != 0 && now - last_warn_ms < warn_interval_ms) {
        ++warnings_suppressed;
        return;
    }
    last_warn_ms = now;
    if (warnings_suppressed != 0) {
        spdlog::warn("[validator-link] {} ({} similar warnings suppressed)", line, warnings_suppressed);
        warnings_suppressed = 0;
    } else {
        spdlog::warn("[validator-link] {}", line);
    }
}

util::Result<std::uint16_t, PeerTransportError> PeerTransport::Impl::listen() {
    if (acceptor) return bound_port;
    const PeerAddress& own = config.endpoints[config.self];
    boost::system::error_code ec;
    tcp::endpoint ep;
    const auto address = asio::ip::make_address(own.host, ec);
    if (!ec) {
        ep = tcp::endpoint(address, own.port);
    } else {
        // A host name: resolved once, at startup, on this thread.
        tcp::resolver resolver(ex);
        auto results = resolver.resolve(own.host, std::to_string(own.port), ec);
        if (ec || results.empty()) {
            spdlog::error("[validator-link] cannot resolve {}: {}", own.to_string(), ec.message());
            return unexpected(PeerTransportError::listen_failed);
        }
        ep = results.begin()->endpoint();
    }
    auto listener = Listener::open(ex, ep, {.backoff_ms = accept_retry_ms});
    if (!listener) {
        spdlog::error("[validator-link] {} ({})", describe(listener.error()), own.to_string());
        return unexpected(PeerTransportError::listen_failed);
    }
    acceptor = std::move(*listener);
    bound_port = acceptor->local_endpoint().port();
    acceptor->start([weak = weak_from_this()](tcp::socket s) {
        if (auto self = weak.lock()) self->on_accept(std::move(s));
    });
    return bound_port;
}

void PeerTransport::Impl::start_dialing() {
    if (dialing) return;
    dialing = true;
    for (PeerId p = 0; p < n(); ++p) maybe_dial(p);
}

void PeerTransport::Impl::maybe_dial(PeerId p) {
    Outbound& o = *outbound[p];
    if (!dialing || stopped || p == config.self || o.dialer_started || config.endpoints[p].host.empty()) return;
    o.dialer_started = true;
    asio::co_spawn(
        ex, [self = shared_from_this(), p] { return self->dial_loop(p); }, asio::detached);
}

void PeerTransport::Impl::set_active(PeerId p, bool active) {
    CONET_ASSERT(p < n());
    Outbound& o = *outbound[p];
    if (o.active == active || p == config.self) return;
    o.active = active;
    if (!active) {
        stats.dropped_inactive += o.queue.size();
        o.queue.clear();
        o.queued_bytes = 0;
        if (o.socket && o.socket->is_open()) {
            o.close_reason = "no longer in a validator set";
            boost::system::error_code ignored;
            o.socket->close(ignored);
        }
    }
    o.retry.cancel();  // a dialer waiting to retry looks again
    o.wake.notify();
    maybe_dial(p);
}

PeerId PeerTransport::Impl::add_peer(const crypto::Address& validator, PeerAddress address) {
    const auto it = std::find(config.validators.begin(), config.validators.end(), validator);
    if (it != config.validators.end()) {
        const auto p = static_cast<PeerId>(it - config.validators.begin());
        if (!address.host.empty() && p != config.self) {
            config.endpoints[p] = std::move(address);
            maybe_dial(p);
        }
        return p;
    }
    const auto p = n();
    config.validators.push_back(validator);
    config.endpoints.push_back(std::move(address));
    // Sessions in progress keep the identity they started with (a prefix of this one).
    identity = std::make_shared<const ValidatorIdentity>(
        ValidatorIdentity{config.chain_id, config.self, config.validators, identity->key.clone()});
    outbound.push_back(std::make_unique<Outbound>(ex));
    inbound.emplace_back();
    if (config.limits.max_unauthenticated_inbound == 0) max_unauthenticated = 2 * n();
    maybe_dial(p);
    return p;
}

void PeerTransport::Impl::stop() {
    if (stopped) return;
    stopped = true;
    handler = nullptr;
    boost::system::error_code ignored;
    if (acceptor) acceptor->close();
    for (auto& o : outbound) {
        if (o->socket) o->socket->close(ignored);
        o->queue.clear();
        o->queued_bytes = 0;
        o->established = false;
        o->retry.cancel();
        o->wake.notify();
    }
    for (auto& in : inbound)
        if (in) in->close();
    for (const auto& in : unauthenticated) in->close();
}

void PeerTransport::Impl::send(PeerId to, util::ByteView message) {
    CONET_ASSERT(to < n());
    if (stopped) return;
    if (message.size() > config.limits.max_message_bytes) {
        ++stats.dropped_too_large;
        return;
    }
    if (to == config.self) {
        // Delivered later, from the executor: never inside send().
        asio::post(ex, [weak = weak_from_this(), copy = util::Bytes(message.begin(), message.end())] {
            auto self = weak.lock();
            if (!self || self->stopped) return;
            ++self->stats.messages_sent;
            self->deliver(self->config.self, copy);
        });
        return;
    }
    Outbound& o = *outbound[to];
    if (!o.active) {
        ++stats.dropped_inactive;
        return;
    }
    o.queue.emplace_back(message.begin(), message.end());
    o.queued_bytes += message.size();
    // Drop the oldest: for consensus the newest messages matter most, and a
    // peer that is down or slow gets the most recent ones when it catches up.
    // The new message itself always fits (max_message_bytes <= the cap).
    while (o.queued_bytes > config.limits.max_queue_bytes_per_peer) {
        o.queued_bytes -= o.queue.front().size();
        o.queue.pop_front();
        ++stats.dropped_queue_full;
    }
    o.wake.notify();
}

void PeerTransport::Impl::deliver(PeerId from, util::ByteView message) {
    if (!handler) {
        ++stats.dropped_no_handler;
        return;
    }
    ++stats.messages_received;
    stats.bytes_received += message.size();
    // A copy: the handler may replace itself (set_handler) while running.
    Handler h = handler;
    h(from, message);
}

std::uint32_t PeerTransport::Impl::jittered(std::uint32_t delay_ms) {
    std::uint8_t b[4];
    rng.fill(b);
    const std::uint32_t r = codec::load_be<std::uint32_t>(b);
    const std::uint32_t half = delay_ms / 2;
    return delay_ms - half + r % (half + 1);  // uniform in [delay - delay/2, delay]
}

// ---- inbound -----------------------------------------------------------------------------

void PeerTransport::Impl::on_accept(tcp::socket socket) {
    if (stopped) return;
    if (unauthenticated.size() >= max_unauthenticated) {
        ++stats.inbound_rejected;
        warn_limited(endpoint_text(socket) + ": too many unauthenticated connections, closed");
        return;  // the socket closes here
    }
    auto conn = std::make_shared<Inbound>(std::move(socket));
    conn->remote = endpoint_text(*conn->socket);
    unauthenticated.insert(conn);
    asio::co_spawn(
        ex, [self = shared_from_this(), conn] { return self->run_inbound(conn); }, asio::detached);
}

awaitable<void> PeerTransport::Impl::run_inbound(std::shared_ptr<Inbound> conn) {
    auto self = shared_from_this();
    tcp::socket& socket = *conn->socket;
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    Deadline deadline(ex, conn->socket, config.limits.handshake_timeout_ms);
    auto session = PeerSession::accept(identity, config.limits.max_message_bytes);
    CONET_ASSERT(session.has_value());
    std::optional<PeerId> peer;
    std::string reason;
    bool misbehaved = false;
    util::Bytes buf(read_chunk_bytes);
    while (!stopped) {
        auto [rec, n] = co_await socket.async_read_some(asio::buffer(buf), use_nothrow);
        if (stopped) co_return;
        if (rec) {
            reason = deadline.fired()          ? "handshake timed out"
                     : rec == asio::error::eof ? "closed by peer"
                                               : rec.message();
            misbehaved = !peer.has_value();  // an unfinished handshake counts as a failure
            break;
        }
        auto messages = session->receive(util::ByteView(buf.data(), n), rng);
        if (!messages) {
            reason = std::string(describe(messages.error()));
            misbehaved = true;
            break;
        }
        if (auto out = session->take_output(); !out.empty()) {
            auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(out), use_nothrow);
            if (stopped) co_return;
            if (wec) {
                reason = deadline.fired() ? "handshake timed out" : "write failed: " + wec.message();
                misbehaved = !peer.has_value();
                break;
            }
        }
        if (!peer && session->established()) {
            peer = *session->peer();
            deadline.cancel();
            unauthenticated.erase(conn);
            if (auto& old = inbound[*peer]) {
                old->close();
                ++stats.inbound_replaced;
            }
            inbound[*peer] = conn;
            ++stats.inbound_established;
            spdlog::debug("[validator-link] validator {} connected from {}", *peer, conn->remote);
        }
        for (const auto& m : *messages) {
            deliver(*peer, m);
            if (stopped) co_return;
        }
    }
    if (stopped) co_return;
    conn->close();
    if (!peer) {
        unauthenticated.erase(conn);
        if (misbehaved) {
            ++stats.handshake_failures;
            warn_limited(conn->remote + ": inbound validator link refused: " + reason);
        }
        co_return;
    }
    if (inbound[*peer] == conn) inbound[*peer].reset();
    if (misbehaved) {
        ++stats.protocol_errors;
        warn_limited("validator " + std::to_string(*peer) + " (" + conn->remote + "): inbound link closed: " + reason);
    }
}

// ---- outbound ----------------------------------------------------------------------------

awaitable<void> PeerTransport::Impl::dial_loop(PeerId peer) {
    auto self = shared_from_this();
    Outbound& o = *outbound[peer];
    std::uint32_t backoff_ms = config.limits.reconnect_initial_ms;
    while (!stopped) {
        while (!o.active && !stopped) co_await o.wake.wait();
        if (stopped) co_return;
        const std::string reason = co_await run_outbound(peer);
        if (stopped) co_return;
        if (!o.active) {  // closed on purpose: it is in no current set
            o.established = o.failing = o.refused = false;
            backoff_ms = config.limits.reconnect_initial_ms;
            continue;
        }
        const std::string where = "validator " + std::to_string(peer) + " (" + config.endpoints[peer].to_string() + ")";
        // A peer that closes at once after the handshake most likely refused
        // our hello (it does not count us as a validator yet): that is a
        // failure to back off from, not a connection that was lost.
        if (o.established && steady_ms() - o.established_ms < stable_connection_ms) {
            o.established = false;
            o.failing = true;
            if (!o.refused) {
                o.refused = true;
                spdlog::warn(
                    "[validator-link] {}: closed right after the handshake ({}): it may not know this "
                    "validator yet; retrying",
                    where, reason);
            }
        } else if (o.established) {
            o.established = false;
            o.failing = false;
            o.refused = false;
            backoff_ms = config.limits.reconnect_initial_ms;
            spdlog::warn("[validator-link] {}: connection lost: {}; reconnecting", where, reason);
        } else if (!o.failing) {
            // One line per outage, not one per attempt.
            o.failing = true;
            spdlog::warn("[validator-link] {}: cannot connect: {}; retrying", where, reason);
        }
        o.retry.expires_after(std::chrono::milliseconds(jittered(backoff_ms)));
        co_await o.retry.async_wait(use_nothrow);
        backoff_ms = std::min(backoff_ms * 2, config.limits.reconnect_max_ms);
    }
}

awaitable<std::string> PeerTransport::Impl::run_outbound(PeerId peer) {
    auto self = shared_from_this();
    Outbound& o = *outbound[peer];
    const PeerAddress to = config.endpoints[peer];
    auto socket = std::make_shared<tcp::socket>(ex);
    o.socket = socket;
    o.close_reason.clear();
    Deadline deadline(ex, socket, config.limits.handshake_timeout_ms);

    // Resolve (an IP literal needs no lookup) and connect.
    boost::system::error_code ec;
    std::vector<tcp::endpoint> targets;
    if (const auto address = asio::ip::make_address(to.host, ec); !ec) {
        targets.emplace_back(address, to.port);
    } else {
        tcp::resolver resolver(ex);
        auto [rec, results] = co_await resolver.async_resolve(to.host, std::to_string(to.port), use_nothrow);
        if (stopped) co_return "stopped";
        if (rec) {
            ++stats.connect_failures;
            co_return "cannot resolve: " + rec.message();
        }
        for (const auto& r : results) targets.push_back(r.endpoint());
        if (!o.active) co_return "no longer in a validator set";  // set inactive while resolving
    }
    auto dialed = co_await dial(socket, targets, config.limits.handshake_timeout_ms);
    if (stopped) co_return "stopped";
    if (!dialed) {
        ++stats.connect_failures;
        co_return deadline.fired() ? "connect timed out" : std::string(describe(dialed.error()));
    }

    // Handshake and hellos.
    auto session = PeerSession::dial(identity, peer, config.limits.max_message_bytes, rng);
    CONET_ASSERT(session.has_value());
    util::Bytes buf(read_chunk_bytes);
    while (true) {
        if (auto out = session->take_output(); !out.empty()) {
            auto [wec, wn] = co_await asio::async_write(*socket, asio::buffer(out), use_nothrow);
            if (stopped) co_return "stopped";
            if (wec) {
                ++stats.handshake_failures;
                co_return deadline.fired() ? "handshake timed out" : "write failed: " + wec.message();
            }
        }
        if (session->established()) break;
        auto [rec, n] = co_await socket->async_read_some(asio::buffer(buf), use_nothrow);
        if (stopped) co_return "stopped";
        if (rec) {
            ++stats.handshake_failures;
            co_return deadline.fired() ? "handshake timed out"
            : rec == asio::error::eof  ? "closed by peer during the handshake"
                                       : rec.message();
        }
        if (auto r = session->receive(util::ByteView(buf.data(), n), rng); !r) {
            ++stats.handshake_failures;
            co_return std::string(describe(r.error()));
        }
    }
    deadline.cancel();
    socket->set_option(asio::socket_base::keep_alive(true), ec);
    o.established = true;
    o.established_ms = steady_ms();
    if (!o.refused) {  // after refusals, only a connection that lasts tells
        if (o.failing) spdlog::info("[validator-link] validator {} ({}) reachable again", peer, to.to_string());
        o.failing = false;
    }
    ++stats.outbound_established;
    spdlog::debug("[validator-link] connected to validator {} at {}", peer, to.to_string());
    // We never expect data on this connection; reading tells us when it closes.
    asio::co_spawn(
        ex, [self, socket, peer] { return self->watch_outbound(socket, peer); }, asio::detached);

    // The writer: seal queued messages in batches.
    util::Bytes batch;
    while (!stopped && socket->is_open() && o.active) {
        if (o.queue.empty()) {
            co_await o.wake.wait();
            if (stopped) co_return "stopped";
            continue;
        }
        batch.clear();
        std::uint64_t count = 0;
        while (!o.queue.empty() && batch.size() < write_batch_bytes) {
            util::Bytes m = std::move(o.queue.front());
            o.queue.pop_front();
            o.queued_bytes -= m.size();
            if (auto r = session->seal(m, batch); !r) co_return std::string(describe(r.error()));
            ++count;
        }
        auto [wec, wn] = co_await asio::async_write(*socket, asio::buffer(batch), use_nothrow);
        if (stopped) co_return "stopped";
        if (wec) {
            stats.dropped_write_failed += count;
            co_return "write failed: " + wec.message();
        }
        stats.messages_sent += count;
        stats.bytes_sent += batch.size();
    }
    if (!o.active && socket->is_open()) {  // set inactive during the handshake
        boost::system::error_code ignored;
        socket->close(ignored);
        co_return "no longer in a validator set";
    }
    co_return o.close_reason.empty() ? std::string("closed") : o.close_reason;
}

awaitable<void> PeerTransport::Impl::watch_outbound(std::shared_ptr<tcp::socket> socket, PeerId peer) {
    auto self = shared_from_this();
    std::uint8_t byte = 0;
    auto [ec, n] = co_await socket->async_read_some(asio::buffer(&byte, 1), use_nothrow);
    if (stopped) co_return;
    Outbound& o = *outbound[peer];
    std::string reason = ec == asio::error::eof ? "closed by peer" : ec.message();
    if (!ec) {
        ++stats.protocol_errors;
        reason = std::string(describe(PeerError::unexpected_data));
    }
    if (o.socket == socket && socket->is_open()) o.close_reason = std::move(reason);
    boost::system::error_code ignored;
    socket->close(ignored);
    o.wake.notify();
}

// ---- the public face ---------------------------------------------------------------------

PeerTransport::PeerTransport(asio::any_io_executor ex, PeerTransportConfig config, crypto::PrivateKey key,
                             util::Rng& rng) {
    const auto ok = check(config, key);
    CONET_ASSERT_MSG(ok.has_value(), "PeerTransport config must pass PeerTransport::check");
    m_impl = std::make_shared<Impl>(std::move(ex), std::move(config), std::move(key), rng);
}

PeerTransport::~PeerTransport() {
    m_impl->stop();
}

util::Result<std::uint16_t, PeerTransportError> PeerTransport::listen() {
    CONET_ASSERT(!m_impl->stopped);
    return m_impl->listen();
}

util::Result<void, PeerTransportError> PeerTransport::start() {
    CONET_ASSERT(!m_impl->stopped);
    if (auto l = m_impl->listen(); !l) return unexpected(l.error());
    m_impl->start_dialing();
    return {};
}

void PeerTransport::stop() {
    m_impl->stop();
}

void PeerTransport::set_endpoint(PeerId peer, PeerAddress address) {
    CONET_ASSERT(peer < m_impl->n());
    m_impl->config.endpoints[peer] = std::move(address);
    m_impl->maybe_dial(peer);
}

PeerId PeerTransport::add_peer(const crypto::Address& validator, PeerAddress address) {
    return m_impl->add_peer(validator, std::move(address));
}

void PeerTransport::set_active(PeerId peer, bool active) {
    m_impl->set_active(peer, active);
}

std::optional<PeerId> PeerTransport::find_peer(const crypto::Address& validator) const {
    const auto& v = m_impl->config.validators;
    const auto it = std::find(v.begin(), v.end(), validator);
    if (it == v.end()) return std::nullopt;
    return static_cast<PeerId>(it - v.begin());
}

PeerId PeerTransport::self() const {
    return m_impl->config.self;
}

std::uint32_t PeerTransport::peers() const {
    return m_impl->n();
}

void PeerTransport::send(PeerId to, util::ByteView message) {
    m_impl->send(to, message);
}

void PeerTransport::set_handler(Handler handler) {
    if (m_impl->stopped) return;
    m_impl->handler = std::move(handler);
}

bool PeerTransport::connected(PeerId peer) const {
    CONET_ASSERT(peer < m_impl->n());
    return m_impl->outbound[peer]->established;
}

std::size_t PeerTransport::queued_bytes(PeerId peer) const {
    CONET_ASSERT(peer < m_impl->n());
    return m_impl->outbound[peer]->queued_bytes;
}

const PeerTransportStats& PeerTransport::stats() const {
    return m_impl->stats;
}

}  // namespace conet::net
