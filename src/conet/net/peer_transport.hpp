#pragma once
/// The validator transport: authenticated, unreliable messages between
/// validators over TCP (runtime::Transport for consensus). Peers are known
/// by wallet address; the owner adds them as validator sets change
/// (add_peer), and peer numbers are this node's own (other nodes number
/// the same validators differently).
///
/// Connections. Every validator dials every other one and uses that outbound
/// connection only to send; it accepts inbound connections and only receives
/// on them. So a pair of validators has two TCP connections, one per
/// direction, and no tie-breaking is needed. A newly authenticated inbound
/// connection from validator i replaces an older one from i.
///
/// Wire format of one connection (dialer D, acceptor A):
///   1. Noise_NN_25519_ChaChaPoly_BLAKE2b with prologue validator_link_prologue,
///      each handshake message framed as u16 length | bytes
///      (D -> A: 32 bytes, A -> D: 48 bytes);
///   2. each side's first transport record is its hello: a 65-byte
///      signature r||s||v (v = recid) by its wallet key over
///      keccak256("CONET/Validator-Link/v1" || u64 chain_id || Noise
///      handshake hash). A recovers the signer and accepts it when it is one
///      of its peers and not itself; D accepts only the validator it dialed;
///   3. then D -> A only: messages. A message is the plaintext stream
///      u32 length | bytes, cut into Noise transport messages of at most
///      noise::max_payload_bytes of plaintext each (every one full except
///      the last), each framed as u16 length | ciphertext. The length is
///      inside the first encrypted record, so it is authenticated too.
///
/// Security, provided: only the holder of the wallet key of peer i's address
/// can be `from = i`; the hello signature binds that key to this Noise session
/// (channel binding), so a man in the middle cannot relay a hello into a
/// session of its own; contents are encrypted and authenticated, and a
/// tampered, dropped, reordered or replayed record fails decryption and
/// closes the connection; a hello for another chain id is refused; NN's
/// ephemeral keys give forward secrecy for recorded traffic.
/// Not provided: delivery (unreliable by contract: a full queue or a lost
/// connection drops messages, counted in the stats); hiding who talks to
/// whom, when, or message sizes; protection against a validator whose
/// wallet key is stolen (the thief is that validator); liveness checks of
/// an idle connection beyond TCP keep-alive (a peer that vanishes without
/// closing is noticed when a write fails).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conet/crypto/keys.hpp"
#include "conet/crypto/noise/handshake.hpp"
#include "conet/net/asio.hpp"
#include "conet/runtime/runtime.hpp"
#include "conet/util/result.hpp"
#include "conet/util/rng.hpp"

namespace conet::net {

// ---- protocol constants (not settable) -------------------------------------------------

inline constexpr std::string_view validator_link_protocol = "Noise_NN_25519_ChaChaPoly_BLAKE2b";
inline constexpr std::string_view validator_link_prologue = "CONET/Validator-Link/v1";
/// Domain separation of the hello signature.
inline constexpr std::string_view validator_hello_domain = "CONET/Validator-Link/v1";
/// NN with empty payloads: `e` (32), then `e, ee` and the empty payload's tag (48).
inline constexpr std::size_t validator_handshake1_bytes = crypto::noise::dh_bytes;
inline constexpr std::size_t validator_handshake2_bytes = crypto::noise::dh_bytes + crypto::noise::tag_bytes;
/// The hello: a 65-byte signature (the signer is the sender).
inline constexpr std::size_t validator_hello_bytes = 65;
/// Plaintext of one record of a message (its first record also holds the u32 length).
inline constexpr std::size_t validator_chunk_bytes = crypto::noise::max_payload_bytes;

// ---- limits: everything a peer can push against --------------------------------------

struct PeerTransportLimits {
    /// Largest message accepted from or sent to a peer. A peer announcing a
    /// longer one is disconnected; a local send() of a longer one is dropped.
    /// Consensus messages carry blocks of up to 8 MiB.
    std::size_t max_message_bytes = 9u << 20;
    /// Bytes of messages queued for one peer (not yet written to its socket,
    /// counted as message bytes). Past it the oldest queued messages to that
    /// peer are dropped and counted: the transport never blocks the caller
    /// nor grows without bound when a peer is down or reads slowly.
    std::size_t max_queue_bytes_per_peer = 32u << 20;
    /// A connection that has not finished the Noise handshake and both hellos
    /// by then is closed (inbound and outbound).
    std::uint32_t handshake_timeout_ms = 5'000;
    /// Inbound connections that have not yet authenticated; past it a new
    /// connection is closed at once. 0 means 2 × the number of peers.
    /// (Authenticated inbound connections are at most one per validator.)
    std::uint32_t max_unauthenticated_inbound = 0;
    /// Redial delay after a failed or lost outbound connection: starts here,
    /// doubles per failure up to reconnect_max_ms; each wait is drawn
    /// uniformly from [delay/2, delay] so validators do not dial in lockstep.
    std::uint32_t reconnect_initial_ms = 100;
    std::uint32_t reconnect_max_ms = 5'000;
};

// ---- the I/O-free session ------------------------------------------------------------

/// Who we are on the validator network; shared by the sessions of a transport.
struct ValidatorIdentity {
    std::uint64_t chain_id = 0;
    runtime::PeerId self = 0;
    std::vector<crypto::Address> validators;  ///< each peer's wallet address, by peer number
    crypto::PrivateKey key;                   ///< our wallet key; its address is validators[self]
};

enum class PeerError {
    handshake_failed,   ///< a handshake record of the wrong size, or one Noise refused
    bad_hello,          ///< the hello record has the wrong size, does not decrypt or is malformed
    unknown_validator,  ///< the hello's signer is none of our peers (or signed another session or chain)
    own_address,        ///< the hello is signed by our own key (e.g. our own hello reflected back)
    unexpected_peer,    ///< the acceptor is not the validator we dialed
    wrong_signer,       ///< the hello's signature recovers no key
    message_too_long,   ///< a message length above max_message_bytes
    decrypt_failed,     ///< a record did not authenticate: tampered, reordered or forged
    bad_chunking,       ///< a message's records do not have the sizes its length implies
    unexpected_data,    ///< data on a dialer's connection after the hellos (it only sends)
    not_ready,          ///< seal() before the hellos are done, or on an acceptor's session
    cipher_failed,      ///< encryption refused (nonces exhausted)
};
std::string_view describe(PeerError e);

/// keccak256(validator_hello_domain || u64 chain_id || handshake hash).
crypto::Hash256 validator_hello_digest(std::uint64_t chain_id, const crypto::noise::HandshakeHash& handshake_hash);

/// One connection's protocol state, without I/O: bytes received go in,
/// bytes to write and complete messages come out.
///
///   auto s = PeerSession::dial(id, peer, max, rng);   // acceptor: PeerSession::accept(id, max)
///   write(s.take_output());
///   on bytes: auto msgs = s.receive(bytes, rng);  // error -> close
///             write(s.take_output());             // handshake and hello replies
///   once s.established(): s.seal(message, out) (dialer) / msgs (acceptor)
///
/// Memory: at most one partial record (< 64 KiB) is buffered, plus the
/// message being reassembled (at most max_message_bytes, only after the
/// peer authenticated).
class PeerSession {
public:
    enum class Role { dialer, acceptor };

    /// The dialer's session toward validator `peer`; the first handshake
    /// message is waiting in take_output().
    [[nodiscard]] static util::Result<PeerSession, PeerError> dial(std::shared_ptr<const ValidatorIdentity> identity,
                                                                   runtime::PeerId peer, std::size_t max_message_bytes,
                                                                   util::Rng& rng);
    /// The acceptor's session; the peer is known after its hello.
    [[nodiscard]] static util::Result<PeerSession, PeerError> accept(std::shared_ptr<const ValidatorIdentity> identity,
                                                                     std::size_t max_message_bytes);

    /// Consumes bytes from the connection. Returns the messages completed by
    /// them, in order (only an acceptor receives messages). After an error
    /// the session is failed and every later call returns that error.
    [[nodiscard]] util::Result<std::vector<util::Bytes>, PeerError> receive(util::ByteView bytes, util::Rng& rng);
    /// Bytes to write to the connection (handshake messages, our hello).
    util::Bytes take_output() { return std::move(m_out); }

    /// Appends the wire form of one message to `out` (dialer, once established).
    [[nodiscard]] util::Result<void, PeerError> seal(util::ByteView message, util::Bytes& out);
    /// Bytes seal() appends for a message of this size.
    static std::size_t sealed_bytes(std::size_t message_bytes);

    Role role() const { return m_role; }
    /// Both hellos checked: the peer is authenticated.
    bool established() const { return m_phase == Phase::established; }
    /// The peer's validator index: the one dialed (dialer), or the one its
    /// hello proved (acceptor, once established).
    std::optional<runtime::PeerId> peer() const { return m_peer; }
    std::optional<PeerError> error() const { return m_error; }

private:
    enum class Phase { handshake, hello, established, failed };

    PeerSession(Role role, std::shared_ptr<const ValidatorIdentity> identity, std::size_t max_message_bytes,
                crypto::noise::HandshakeState hs);
    util::Result<void, PeerError> fail(PeerError e);
    /// The exact or largest record length this phase allows.
    bool record_length_ok(std::size_t len) const;
    util::Result<void, PeerError> on_record(std::span<std::uint8_t> record, util::Rng& rng,
                                            std::vector<util::Bytes>& messages);
    util::Result<void, PeerError> finish_handshake();
    util::Result<void, PeerError> check_hello(util::ByteView plaintext);
    util::Result<void, PeerError> on_chunk(util::ByteView plaintext, std::vector<util::Bytes>& messages);

    Role m_role;
    Phase m_phase = Phase::handshake;
    std::shared_ptr<const ValidatorIdentity> m_identity;
    std::size_t m_max_message_bytes;
    std::optional<crypto::noise::HandshakeState> m_hs;
    std::optional<crypto::noise::Transport> m_transport;
    std::optional<runtime::PeerId> m_peer;
    std::optional<PeerError> m_error;
    util::Bytes m_in;   ///< received bytes not yet consumed (at most one partial record)
    util::Bytes m_out;  ///< bytes to write
    bool m_in_message = false;
    std::size_t m_message_left = 0;  ///< body bytes still expected for m_message
    util::Bytes m_message;
};

// ---- the Asio adapter ----------------------------------------------------------------

/// Where a validator's transport listens: an IP address or host name, and a port.
struct PeerAddress {
    std::string host;
    std::uint16_t port = 0;
    std::string to_string() const { return host + ":" + std::to_string(port); }
};

struct PeerTransportConfig {
    std::uint64_t chain_id = 0;
    runtime::PeerId self = 0;
    /// One per peer to start with (more come with add_peer); our own entry
    /// is where we listen (port 0: any free port, see listen()); an empty
    /// host is a peer we cannot dial (it dials us).
    std::vector<PeerAddress> endpoints;
    /// Each peer's wallet address, by peer number; distinct.
    std::vector<crypto::Address> validators;
    PeerTransportLimits limits;
};

enum class PeerTransportError {
    bad_config,     ///< sizes differ, self out of range, or fewer than 1 validator
    key_mismatch,   ///< our key's address is not validators[self]
    bad_limits,     ///< a limit is zero or max_queue_bytes_per_peer < max_message_bytes
    listen_failed,  ///< our endpoint cannot be bound
};
std::string_view describe(PeerTransportError e);

/// Counters for metrics (monotonic, since construction).
struct PeerTransportStats {
    std::uint64_t messages_sent = 0;  ///< written to a peer's socket (or delivered to ourselves)
    std::uint64_t bytes_sent = 0;     ///< wire bytes written after the handshake
    std::uint64_t messages_received = 0;
    std::uint64_t bytes_received = 0;  ///< message bytes delivered to the handler
    // Messages dropped, by reason:
    std::uint64_t dropped_queue_full = 0;    ///< evicted (oldest first) from a full per-peer queue
    std::uint64_t dropped_too_large = 0;     ///< send() of a message over max_message_bytes
    std::uint64_t dropped_write_failed = 0;  ///< sealed into a write that failed (connection lost)
    std::uint64_t dropped_no_handler = 0;    ///< arrived while no handler was set
    std::uint64_t dropped_inactive = 0;      ///< send() to a peer that is not active (set_active)
    // Connections:
    std::uint64_t outbound_established = 0;  ///< authenticated outbound connections (including reconnects)
    std::uint64_t inbound_established = 0;   ///< authenticated inbound connections
    std::uint64_t inbound_replaced = 0;      ///< older inbound connections closed by a newer one from the same peer
    std::uint64_t connect_failures = 0;      ///< outbound: resolve or TCP connect failed
    std::uint64_t handshake_failures = 0;    ///< handshake, hello or timeout failures, both directions
    std::uint64_t inbound_rejected = 0;      ///< closed at once: too many unauthenticated inbound connections
    std::uint64_t protocol_errors = 0;       ///< authenticated connections closed for a bad record
};

/// runtime::Transport over TCP for the validator set; see the top of this file.
/// Runs on one io_context thread; every handler call happens on it.
class PeerTransport final : public runtime::Transport {
public:
    /// Checks a config before construction (the constructor asserts it).
    [[nodiscard]] static util::Result<void, PeerTransportError> check(const PeerTransportConfig& config,
                                                                      const crypto::PrivateKey& key);

    /// `rng` supplies the Noise ephemeral keys and reconnect jitter: a
    /// CSPRNG (crypto::SystemRng) in a node. It must outlive the transport.
    PeerTransport(asio::any_io_executor ex, PeerTransportConfig config, crypto::PrivateKey key, util::Rng& rng);
    /// Stops: closes every connection; no handler runs afterwards.
    ~PeerTransport() override;
    PeerTransport(const PeerTransport&) = delete;
    PeerTransport& operator=(const PeerTransport&) = delete;

    /// Binds our endpoint and starts accepting; returns the bound port.
    [[nodiscard]] util::Result<std::uint16_t, PeerTransportError> listen();
    /// Listens (if not yet) and starts dialing every other validator.
    [[nodiscard]] util::Result<void, PeerTransportError> start();
    /// Closes everything; sends are dropped and no handler runs afterwards.
    void stop();
    /// Where to dial validator `peer` from its next connection attempt on.
    void set_endpoint(runtime::PeerId peer, PeerAddress address);
    /// The peer number of `validator`, adding it (dialed at `address`, once
    /// started, when the host is not empty) if it is new. A known peer keeps
    /// its number; a non-empty `address` replaces its endpoint. Peers are
    /// never removed, but one that left every set is made inactive (set_active).
    runtime::PeerId add_peer(const crypto::Address& validator, PeerAddress address);
    std::optional<runtime::PeerId> find_peer(const crypto::Address& validator) const;
    /// An inactive peer (one in no current validator set) is not dialed, its
    /// queue is dropped and messages to it are dropped at once; its inbound
    /// connections are still accepted. Peers start active.
    void set_active(runtime::PeerId peer, bool active);

    runtime::PeerId self() const override;
    std::uint32_t peers() const override;
    /// Queues a copy of `message` for `to` (to < peers(); to == self() is
    /// delivered to our own handler later, on the executor).
    void send(runtime::PeerId to, util::ByteView message) override;
    void set_handler(Handler handler) override;

    /// Whether our outbound connection to `peer` is authenticated now.
    bool connected(runtime::PeerId peer) const;
    /// Bytes queued for `peer` and not yet written.
    std::size_t queued_bytes(runtime::PeerId peer) const;
    const PeerTransportStats& stats() const;

private:
    struct Impl;
    std::shared_ptr<Impl> m_impl;  ///< shared with pending coroutines, which outlive us
};

}  // namespace conet::net
