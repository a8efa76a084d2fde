#pragma once
/// The link handshake (docs/protocol.md §Links) as an I/O-free state machine:
///   initiator -> responder: one byte of LinkKind, then u16 length | Noise message 1
///   responder -> initiator: u16 length | message 2
///   initiator -> responder: u16 length | message 3 (XK only)
/// NK for users (client links), XK between relays; the responder asks its
/// owner whether the initiator (known by its static key under XK) may connect.
/// The core takes bytes, the time and an RNG; `Link::connect` and
/// `Link::accept` carry it out on a socket, and the unit tests drive it with
/// two cores facing each other.

#include <functional>
#include <optional>
#include <string_view>
#include <utility>

#include "conet/crypto/noise/handshake.hpp"
#include "conet/runtime/runtime.hpp"

namespace conet::net {

enum class LinkKind : std::uint8_t { client = 1, relay = 2 };

enum class LinkError { connect_failed, handshake_failed, timeout, peer_not_allowed };
std::string_view describe(LinkError e);

/// The largest handshake message either side accepts (XK's third is 64 bytes):
/// a stranger cannot make a relay buffer more than this before it is known.
inline constexpr std::size_t max_handshake_message_bytes = 256;

class LinkHandshake {
public:
    /// Decides whether a link's initiator (known by its static key under XK) may connect.
    using PeerCheck = std::function<bool(LinkKind, const std::optional<crypto::X25519Public>&)>;

    /// NK when `our_static` is null (a user), XK otherwise (a relay). The first
    /// message is ready in take_output() at once.
    [[nodiscard]] static LinkHandshake initiate(const crypto::X25519KeyPair* our_static,
                                                const crypto::X25519Public& their_static, runtime::TimeMs now,
                                                runtime::TimeMs timeout_ms, util::Rng& rng);
    [[nodiscard]] static LinkHandshake respond(const crypto::X25519KeyPair& our_static, PeerCheck allow,
                                               runtime::TimeMs now, runtime::TimeMs timeout_ms);

    /// Bytes to write to the peer, in order, before reading more.
    [[nodiscard]] util::Bytes take_output() { return std::exchange(m_out, {}); }
    /// How many more bytes the next step needs (0 once done or failed): an
    /// adapter that reads exactly this many never reads past the handshake.
    std::size_t wanted() const;
    /// Feeds received bytes; returns how many the handshake consumed (the
    /// rest, if any, is the peer's first transport frame).
    std::size_t receive(util::ByteView bytes, util::Rng& rng);
    /// Fails the handshake with `timeout` once `now` reaches the deadline.
    void tick(runtime::TimeMs now);
    runtime::TimeMs deadline() const { return m_deadline; }

    bool done() const { return m_step == Step::done; }
    std::optional<LinkError> failure() const { return m_failure; }
    /// Known once the responder has read the first byte.
    LinkKind kind() const { return m_kind; }
    /// After done(): the session's keys. Moves them out.
    [[nodiscard]] crypto::noise::Transport take_transport();

private:
    enum class Step { kind_byte, header, body, done, failed };
    LinkHandshake(LinkKind kind, runtime::TimeMs deadline, Step first)
        : m_kind(kind), m_deadline(deadline), m_step(first) {}
    void fail(LinkError e);
    /// A whole message arrived: read it, answer it, finish.
    void on_message(util::ByteView message, util::Rng& rng);
    void write(util::Rng& rng);
    void finish();

    std::optional<crypto::noise::HandshakeState> m_hs;
    std::optional<crypto::noise::Transport> m_transport;
    PeerCheck m_allow;                                        ///< responder only
    std::optional<crypto::X25519KeyPair> m_responder_static;  ///< responder only, until the kind byte
    LinkKind m_kind;
    runtime::TimeMs m_deadline;
    Step m_step;
    std::optional<LinkError> m_failure;
    util::Bytes m_out;
    std::uint8_t m_header[2]{};
    std::size_t m_have = 0;  ///< bytes of the current header or body received
    util::Bytes m_body;
};

}  // namespace conet::net
