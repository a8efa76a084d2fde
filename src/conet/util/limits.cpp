#include "conet/util/limits.hpp"

#include <array>

namespace conet::util {

namespace {

constexpr std::uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
constexpr std::uint64_t day_ms = 24ull * 3600 * 1000;

constexpr std::array<LimitField, 41> k_fields{{
    {"memory_budget_bytes",
     "Memory in all link send queues together, counted as allocated; past it the link holding the most is closed (many "
     "non-reading peers)",
     &Limits::memory_budget_bytes, 16 * MiB, 1024 * GiB},
    {"max_open_sockets", "Sockets open for peers: links, handshakes, exit streams, RPC", &Limits::max_open_sockets, 64,
     1'000'000},
    {"accept_backoff_ms", "Pause accepting after running out of file descriptors (no busy loop at EMFILE)",
     &Limits::accept_backoff_ms, 1, 60'000},
    {"max_links", "Links (users and relays) in total", &Limits::max_links, 1, 1'000'000},
    {"max_links_per_ip", "Links from one IPv4 address or IPv6 /128", &Limits::max_links_per_ip, 1, 1'000'000},
    {"max_links_per_prefix", "Links from one IPv4 /24 or IPv6 /48", &Limits::max_links_per_prefix, 1, 1'000'000},
    {"max_handshakes_in_flight",
     "Link handshakes in progress in total; when full, the oldest unfinished one is dropped (idle connections)",
     &Limits::max_handshakes_in_flight, 1, 100'000},
    {"max_handshakes_per_ip", "Link handshakes in progress from one address", &Limits::max_handshakes_per_ip, 1,
     100'000},
    {"max_handshakes_per_prefix", "Link handshakes in progress from one /24 (IPv6 /48)",
     &Limits::max_handshakes_per_prefix, 1, 100'000},
    {"handshake_timeout_ms", "Time a new connection has to finish its link handshake", &Limits::handshake_timeout_ms,
     100, 600'000},
    {"handshake_timeout_under_pressure_ms", "The same while more than half of max_handshakes_in_flight are busy",
     &Limits::handshake_timeout_under_pressure_ms, 50, 600'000},
    {"keepalive_ms", "Send a PING after this long without sending", &Limits::keepalive_ms, 100, day_ms},
    {"idle_timeout_ms", "Close a link after this long without receiving", &Limits::idle_timeout_ms, 200, day_ms},
    {"max_link_queue_bytes",
     "Memory queued on one link; past it the circuit holding the most is destroyed, the link stays (one user on a "
     "shared link)",
     &Limits::max_link_queue_bytes, 1 * MiB, 1024 * GiB},
    {"max_circuit_queue_bytes",
     "Memory queued on one link for one circuit; past it that circuit is destroyed (a peer that stops reading); exit "
     "streams pause at half",
     &Limits::max_circuit_queue_bytes, 1 * MiB, 1024 * GiB},
    {"max_circuits_per_link", "Circuits one link may open", &Limits::max_circuits_per_link, 1, 1'000'000},
    {"creates_per_second_per_link",
     "CREATE handshakes answered per second on one user link (CPU); a link ignoring creates_burst_per_link refusals is "
     "closed",
     &Limits::creates_per_second_per_link, 1, 1'000'000},
    {"creates_burst_per_link", "CREATE handshakes one link may send at once", &Limits::creates_burst_per_link, 1,
     1'000'000},
    {"creates_per_second_per_prefix", "CREATE handshakes answered per second for one /24 (IPv6 /48)",
     &Limits::creates_per_second_per_prefix, 1, 1'000'000},
    {"handshakes_per_second_per_prefix",
     "New links accepted per second from one /24 (IPv6 /48), burst twice that (CPU: link handshakes)",
     &Limits::handshakes_per_second_per_prefix, 1, 1'000'000},
    {"max_bad_creates_per_link",
     "Unanswerable CREATEs after which a user's link is closed (junk CREATE floods burn CPU)",
     &Limits::max_bad_creates_per_link, 1, 1'000'000},
    {"bad_source_penalty_ms", "Time a source that sent bad CREATEs may not open links", &Limits::bad_source_penalty_ms,
     0, day_ms},
    {"max_exit_streams", "Destination connections the exit keeps open", &Limits::max_exit_streams, 1, 1'000'000},
    {"exit_connect_timeout_ms", "Exit: resolve and connect to a destination", &Limits::exit_connect_timeout_ms, 100,
     600'000},
    {"dns_workers", "Exit: threads resolving names (a stuck lookup occupies one)", &Limits::dns_workers, 1, 256},
    {"max_dns_queue", "Exit: lookups waiting for a worker", &Limits::max_dns_queue, 1, 1'000'000},
    {"dns_timeout_ms", "Exit: a lookup that takes longer fails", &Limits::dns_timeout_ms, 100, 600'000},
    {"rpc_max_connections", "RPC/WebSocket connections in total", &Limits::rpc_max_connections, 1, 1'000'000},
    {"rpc_max_connections_per_ip", "RPC/WebSocket connections from one address", &Limits::rpc_max_connections_per_ip, 1,
     1'000'000},
    {"rpc_request_timeout_ms", "Time to send one HTTP request", &Limits::rpc_request_timeout_ms, 100, 600'000},
    {"rpc_idle_timeout_ms", "Close an RPC connection or WebSocket silent for this long", &Limits::rpc_idle_timeout_ms,
     100, day_ms},
    {"ws_max_lifetime_ms", "Close a WebSocket after this long whatever it does", &Limits::ws_max_lifetime_ms, 1'000,
     7 * day_ms},
    {"ws_max_subscriptions", "Subscriptions on one WebSocket", &Limits::ws_max_subscriptions, 1, 100'000},
    {"ws_max_outbox_bytes", "Bytes queued for one WebSocket before it is cut off", &Limits::ws_max_outbox_bytes,
     64 * KiB, 1024 * MiB},
    {"rpc_client_timeout_ms", "Deadline of one RPC call made by this node", &Limits::rpc_client_timeout_ms, 100,
     600'000},
    {"rpc_max_connections_per_prefix", "RPC/WebSocket connections from one IPv4 /24 or IPv6 /48",
     &Limits::rpc_max_connections_per_prefix, 1, 1'000'000},
    {"gossip_txs_per_second_per_validator",
     "Validator: transactions taken per second from one other validator's gossip (CPU: one signature recovery each)",
     &Limits::gossip_txs_per_second_per_validator, 1, 10'000'000},
    {"gossip_txs_burst_per_validator", "Validator: gossiped transactions one validator may send at once",
     &Limits::gossip_txs_burst_per_validator, 1, 10'000'000},
    {"gossip_txs_per_second_total",
     "Validator: transactions taken per second from all other validators' gossip together (CPU)",
     &Limits::gossip_txs_per_second_total, 1, 10'000'000},
    {"gossip_txs_burst_total", "Validator: gossiped transactions all other validators may send at once",
     &Limits::gossip_txs_burst_total, 1, 10'000'000},
    {"bad_gossip_penalty_ms",
     "Validator: time another validator that gossiped a badly signed transaction is not listened to",
     &Limits::bad_gossip_penalty_ms, 0, day_ms},
}};
// Every member of Limits is listed above (all members are u64).
static_assert(sizeof(Limits) == k_fields.size() * sizeof(std::uint64_t));

}  // namespace

std::span<const LimitField> limit_fields() {
    return k_fields;
}

std::optional<std::string> Limits::check() const {
    struct Rel {
        std::uint64_t Limits::*small;
        std::uint64_t Limits::*large;
        const char* what;
    };
    static constexpr Rel rels[] = {
        {&Limits::max_links_per_ip, &Limits::max_links_per_prefix, "max_links_per_ip <= max_links_per_prefix"},
        {&Limits::max_links_per_prefix, &Limits::max_links, "max_links_per_prefix <= max_links"},
        {&Limits::max_handshakes_per_ip, &Limits::max_handshakes_per_prefix,
         "max_handshakes_per_ip <= max_handshakes_per_prefix"},
        {&Limits::max_handshakes_per_prefix, &Limits::max_handshakes_in_flight,
         "max_handshakes_per_prefix <= max_handshakes_in_flight"},
        {&Limits::max_handshakes_in_flight, &Limits::max_links, "max_handshakes_in_flight <= max_links"},
        {&Limits::handshake_timeout_under_pressure_ms, &Limits::handshake_timeout_ms,
         "handshake_timeout_under_pressure_ms <= handshake_timeout_ms"},
        {&Limits::keepalive_ms, &Limits::idle_timeout_ms, "keepalive_ms <= idle_timeout_ms"},
        {&Limits::max_circuit_queue_bytes, &Limits::max_link_queue_bytes,
         "max_circuit_queue_bytes <= max_link_queue_bytes"},
        {&Limits::max_link_queue_bytes, &Limits::memory_budget_bytes, "max_link_queue_bytes <= memory_budget_bytes"},
        {&Limits::creates_per_second_per_link, &Limits::creates_burst_per_link,
         "creates_per_second_per_link <= creates_burst_per_link"},
        {&Limits::creates_per_second_per_link, &Limits::creates_per_second_per_prefix,
         "creates_per_second_per_link <= creates_per_second_per_prefix"},
        {&Limits::rpc_max_connections_per_ip, &Limits::rpc_max_connections_per_prefix,
         "rpc_max_connections_per_ip <= rpc_max_connections_per_prefix"},
        {&Limits::rpc_max_connections_per_prefix, &Limits::rpc_max_connections,
         "rpc_max_connections_per_prefix <= rpc_max_connections"},
        {&Limits::gossip_txs_per_second_per_validator, &Limits::gossip_txs_burst_per_validator,
         "gossip_txs_per_second_per_validator <= gossip_txs_burst_per_validator"},
        {&Limits::gossip_txs_per_second_total, &Limits::gossip_txs_burst_total,
         "gossip_txs_per_second_total <= gossip_txs_burst_total"},
        {&Limits::gossip_txs_per_second_per_validator, &Limits::gossip_txs_per_second_total,
         "gossip_txs_per_second_per_validator <= gossip_txs_per_second_total"},
        {&Limits::gossip_txs_burst_per_validator, &Limits::gossip_txs_burst_total,
         "gossip_txs_burst_per_validator <= gossip_txs_burst_total"},
    };
    for (const auto& f : limit_fields()) {
        const std::uint64_t v = this->*f.member;
        if (v < f.min || v > f.max)
            return std::string(f.name) + " must be from " + std::to_string(f.min) + " to " + std::to_string(f.max);
    }
    for (const auto& r : rels)
        if (this->*r.small > this->*r.large) return std::string(r.what) + " does not hold";
    if (max_links + max_exit_streams + rpc_max_connections > max_open_sockets)
        return "max_links + max_exit_streams + rpc_max_connections <= max_open_sockets does not hold";
    return std::nullopt;
}

}  // namespace conet::util
