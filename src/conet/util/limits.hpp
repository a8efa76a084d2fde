#pragma once
/// Every limit a peer can push against, in one place (DESIGN §5 "Budgets").
///
/// Units are in the names. Defaults are the values below; each one can be set
/// in node.toml's `[limits]` table (see `limit_fields()`, which also writes the
/// annotated config and docs/security.md's table). Relations between limits
/// are `static_assert`ed here for the defaults and checked by `check()` for
/// values read from a file. Protocol constants that are not settable (flow
/// control windows, cell sizes) live with the protocol in net/ and are
/// related to these limits by `static_assert`s there.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace conet::util {

struct Limits {
    // ---- the whole process ---------------------------------------------------------
    /// Memory held in link send queues and stream buffers, counted by what is
    /// allocated (a cell's whole buffer plus bookkeeping), summed over all links.
    std::uint64_t memory_budget_bytes = 1ull << 30;
    /// Sockets this process keeps open for peers (links, handshakes, exit streams,
    /// RPC); set below the file-descriptor limit so files and logs keep working.
    std::uint64_t max_open_sockets = 24'576;
    /// After accept fails for lack of descriptors (EMFILE/ENFILE), wait this long.
    std::uint64_t accept_backoff_ms = 100;

    // ---- relay port: per source and in total -----------------------------------------
    std::uint64_t max_links = 4096;
    std::uint64_t max_links_per_ip = 64;       ///< one IPv4 /32 or IPv6 /128
    std::uint64_t max_links_per_prefix = 256;  ///< one IPv4 /24 or IPv6 /48
    std::uint64_t max_handshakes_in_flight = 256;
    std::uint64_t max_handshakes_per_ip = 8;
    std::uint64_t max_handshakes_per_prefix = 32;
    std::uint64_t handshake_timeout_ms = 10'000;
    /// While more than half of max_handshakes_in_flight are busy, a connection
    /// that has not finished its handshake after this long is dropped.
    std::uint64_t handshake_timeout_under_pressure_ms = 1'000;

    // ---- links ---------------------------------------------------------------------------
    std::uint64_t keepalive_ms = 20'000;
    std::uint64_t idle_timeout_ms = 90'000;
    /// Memory queued for sending on one link; past it the peer is not reading
    /// and the link closes.
    std::uint64_t max_link_queue_bytes = 256ull << 20;
    /// Memory queued on one link for one circuit; past it that circuit is
    /// destroyed (never the link, which carries other users' circuits).
    std::uint64_t max_circuit_queue_bytes = 32ull << 20;
    std::uint64_t max_circuits_per_link = 4096;

    // ---- CPU spent on circuit handshakes (token buckets) ---------------------------
    std::uint64_t creates_per_second_per_link = 200;
    std::uint64_t creates_burst_per_link = 400;
    std::uint64_t creates_per_second_per_prefix = 1'000;
    /// New links (each costs the relay a Noise handshake) accepted per second
    /// from one /24 (IPv6 /48), with a burst of twice that.
    std::uint64_t handshakes_per_second_per_prefix = 50;
    /// A link that sends this many CREATEs we cannot answer is closed.
    std::uint64_t max_bad_creates_per_link = 8;
    /// ...and its source may not open links for this long.
    std::uint64_t bad_source_penalty_ms = 30'000;

    // ---- exit -----------------------------------------------------------------------------
    std::uint64_t max_exit_streams = 16'384;
    std::uint64_t exit_connect_timeout_ms = 10'000;
    std::uint64_t dns_workers = 4;
    std::uint64_t max_dns_queue = 256;
    std::uint64_t dns_timeout_ms = 5'000;

    // ---- JSON-RPC / WebSocket port ----------------------------------------------------
    std::uint64_t rpc_max_connections = 256;
    std::uint64_t rpc_max_connections_per_ip = 32;
    std::uint64_t rpc_request_timeout_ms = 30'000;
    std::uint64_t rpc_idle_timeout_ms = 60'000;
    /// A WebSocket is closed after this long whatever it does (clients reconnect).
    std::uint64_t ws_max_lifetime_ms = 3'600'000;
    std::uint64_t ws_max_subscriptions = 16;
    /// Bytes queued for one WebSocket subscriber; past it the subscriber is cut off.
    std::uint64_t ws_max_outbox_bytes = 4ull << 20;
    /// Deadline for one call of the RPC client (connect, send, receive).
    std::uint64_t rpc_client_timeout_ms = 10'000;
    /// RPC/WebSocket connections from one IPv4 /24 or IPv6 /48, so sources
    /// spread over one network cannot take every slot.
    std::uint64_t rpc_max_connections_per_prefix = 128;

    // Validators: transactions passed on by other validators (node/tx_gossip.hpp).
    /// Gossiped transactions taken per second from one validator (each costs
    /// a signature recovery, ~35 us: 5,000/s is about a sixth of a core), with
    /// a burst of gossip_txs_burst_per_validator; the rest are dropped (the
    /// validator that took them from its client still proposes them).
    std::uint64_t gossip_txs_per_second_per_validator = 5'000;
    std::uint64_t gossip_txs_burst_per_validator = 10'000;
    /// The same over all validators together, so f Byzantine ones cannot take
    /// more than about a third of a core between them.
    std::uint64_t gossip_txs_per_second_total = 10'000;
    std::uint64_t gossip_txs_burst_total = 20'000;
    /// A validator that passes on a transaction with a bad signature (an honest
    /// one checks before passing on) is not listened to for this long.
    std::uint64_t bad_gossip_penalty_ms = 60'000;

    /// Relations between limits; an error names the offending option.
    [[nodiscard]] std::optional<std::string> check() const;
};

/// One settable limit: its node.toml name, what it protects, and its range.
struct LimitField {
    const char* name;
    const char* help;
    std::uint64_t Limits::*member;
    std::uint64_t min;
    std::uint64_t max;
};
std::span<const LimitField> limit_fields();

// Relations for the defaults (check() enforces the same for configured values).
static_assert(Limits{}.max_links_per_ip <= Limits{}.max_links_per_prefix);
static_assert(Limits{}.max_links_per_prefix <= Limits{}.max_links);
static_assert(Limits{}.max_handshakes_per_ip <= Limits{}.max_handshakes_per_prefix);
static_assert(Limits{}.max_handshakes_per_prefix <= Limits{}.max_handshakes_in_flight);
static_assert(Limits{}.max_handshakes_in_flight <= Limits{}.max_links);
static_assert(Limits{}.handshake_timeout_under_pressure_ms <= Limits{}.handshake_timeout_ms);
static_assert(Limits{}.gossip_txs_per_second_per_validator <= Limits{}.gossip_txs_burst_per_validator);
static_assert(Limits{}.gossip_txs_per_second_total <= Limits{}.gossip_txs_burst_total);
static_assert(Limits{}.gossip_txs_per_second_per_validator <= Limits{}.gossip_txs_per_second_total);
static_assert(Limits{}.gossip_txs_burst_per_validator <= Limits{}.gossip_txs_burst_total);
static_assert(Limits{}.keepalive_ms < Limits{}.idle_timeout_ms);
static_assert(Limits{}.max_circuit_queue_bytes <= Limits{}.max_link_queue_bytes);
static_assert(Limits{}.max_link_queue_bytes <= Limits{}.memory_budget_bytes);
static_assert(Limits{}.creates_per_second_per_link <= Limits{}.creates_burst_per_link);
static_assert(Limits{}.creates_per_second_per_link <= Limits{}.creates_per_second_per_prefix);
static_assert(Limits{}.max_links + Limits{}.max_exit_streams + Limits{}.rpc_max_connections <=
              Limits{}.max_open_sockets);
static_assert(Limits{}.rpc_max_connections_per_ip <= Limits{}.rpc_max_connections_per_prefix);
static_assert(Limits{}.rpc_max_connections_per_prefix <= Limits{}.rpc_max_connections);

}  // namespace conet::util
