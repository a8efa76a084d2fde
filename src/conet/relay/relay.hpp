#pragma once
/// The relay role (`conet node run`): accepts links from users (NK) and relays
/// (XK), keeps circuits, forwards onion-sealed cells, extends circuits to other
/// relays of its directory, and serves as exit (docs/protocol.md).

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <unordered_map>

#include "conet/ledger/node_record.hpp"
#include "conet/net/link.hpp"
#include "conet/net/listener.hpp"
#include "conet/net/stream.hpp"
#include "conet/relay/circuit_table.hpp"
#include "conet/relay/exit_core.hpp"
#include "conet/relay/exit_policy.hpp"
#include "conet/relay/resolver.hpp"
#include "conet/relay/usage_meter.hpp"
#include "conet/util/limits.hpp"

namespace conet::relay {

namespace asio = boost::asio;
using net::awaitable;
using net::tcp;

struct RelayConfig {
    crypto::X25519KeyPair static_key;
    std::vector<tcp::endpoint> listen;
    /// Endpoints this relay publishes (never extended to).
    std::vector<tcp::endpoint> advertised;
    bool exit_enabled = true;
    ExitPolicy exit_policy;
    /// Every budget (DESIGN §5); the link limits are derived from it.
    util::Limits limits;
    /// Extend to relays whose records name loopback or private addresses
    /// (devnet and tests only); public deployments refuse them.
    bool allow_private_relays = false;
    /// Called (on the io thread) when a peer or an EXTEND names a relay the
    /// directory does not know; the ledger sync uses it to refresh early.
    std::function<void()> on_unknown_relay;
    /// Paid usage (price 0: off). The exit key and chain are filled by the node.
    MeterConfig meter;
};

/// Counters exported as Prometheus text.
struct RelayMetrics {
    explicit RelayMetrics(prometheus::Registry& registry);
    prometheus::Gauge& links;
    prometheus::Gauge& circuits;
    prometheus::Gauge& streams;
    prometheus::Gauge& queued_bytes;            ///< memory in link send queues (the process budget's use)
    prometheus::Gauge& budget_reclaimed_links;  ///< links closed to keep within the process budget
    prometheus::Counter& bytes_in;
    prometheus::Counter& bytes_out;
    prometheus::Family<prometheus::Counter>& rejects;
    void reject(std::string_view reason) { rejects.Add({{"reason", std::string(reason)}}).Increment(); }
};

/// The quota key of an address's network: its IPv4 /24 or IPv6 /48
/// (IPv4-mapped IPv6 addresses count as IPv4).
std::string source_prefix(const boost::asio::ip::address& a);

class RelayServer {
public:
    /// `directory` is read only inside handlers; its owner may replace it on the io thread.
    RelayServer(asio::io_context& io, RelayConfig config, const ledger::Directory& directory, util::Rng& rng,
                RelayMetrics& metrics);
    ~RelayServer();
    RelayServer(const RelayServer&) = delete;
    RelayServer& operator=(const RelayServer&) = delete;

    /// Binds every listen endpoint; returns the bound endpoints (port 0 resolved).
    util::Result<std::vector<tcp::endpoint>, net::ListenFailure> start();
    void stop();
    /// Brings the gauges up to date (before a scrape).
    void refresh_metrics() { update_gauges(); }
    const net::MemoryBudget& memory_budget() const { return *m_budget; }
    /// Paid usage at this exit (read and fed by the node's ledger sync, on the io thread).
    UsageMeter& meter() { return m_meter; }

    struct ExitCircuit;
    struct LinkState;

    /// Connections and handshakes counted per source (an address, or its /24 or /48).
    struct SourceCount {
        std::size_t links = 0;
        std::size_t handshakes = 0;
    };

private:
    using Clock = std::chrono::steady_clock;
    struct PendingHandshake {
        std::uint64_t id;
        std::weak_ptr<tcp::socket> socket;
        Clock::time_point started;
    };

    void on_accept(tcp::socket socket);
    awaitable<void> handshake(std::shared_ptr<tcp::socket> socket, std::string ip, std::string prefix);
    void adopt(std::shared_ptr<net::Link> link, std::string ip, std::string prefix);
    void start_link(std::unique_ptr<LinkState> ls);
    /// Carries out what the circuit table decided.
    void apply(TableActions& out);
    void destroy_circuit(CircuitKey key, net::EndReason reason);
    /// Why a new connection from `ip` is refused, or nullptr.
    const char* refuse_source(const std::string& ip, const std::string& prefix, Clock::time_point now);
    /// Drops handshakes older than the pressure timeout while many are in flight.
    void relieve_handshake_pressure(Clock::time_point now);
    /// Closes the oldest unfinished handshake; false if none can go.
    bool evict_oldest_handshake();
    void release_source(const std::string& ip, const std::string& prefix, bool link, bool handshake);
    /// A relay endpoint this relay must not dial (itself; private unless allowed).
    bool extend_refused(const tcp::endpoint& to) const;
    void on_cell(LinkState& ls, util::ByteView bytes);
    void on_link_closed(LinkState* ls);
    void handle_exit_message(const std::shared_ptr<ExitCircuit>& circ, const net::RelayView& msg);
    awaitable<void> open_exit_stream(std::weak_ptr<ExitCircuit> circ, std::uint32_t stream_id, net::Target target);
    /// Dials the relay an EXTEND named, then hands the link to the circuit table.
    awaitable<void> extend_to(CircuitKey circuit, ledger::NodeRecord node);
    void update_gauges();

    asio::io_context& m_io;
    RelayConfig m_config;
    const ledger::Directory& m_directory;
    util::Rng& m_rng;
    RelayMetrics& m_metrics;
    std::vector<std::unique_ptr<net::Listener>> m_listeners;
    std::vector<tcp::endpoint> m_bound;
    CircuitTable m_table;
    std::unordered_map<LinkId, std::unique_ptr<LinkState>> m_links;
    LinkId m_next_link = 1;
    /// Circuits whose last hop is this relay and that carried a message for the exit.
    std::unordered_map<CircuitKey, std::shared_ptr<ExitCircuit>> m_exits;
    std::unordered_map<std::string, SourceCount> m_by_ip;
    std::unordered_map<std::string, SourceCount> m_by_prefix;
    /// Rates per source network; kept after its links close (closing and
    /// reopening must not refill them), pruned when idle.
    struct PrefixRates {
        RateBucket handshakes;
        Clock::time_point last_used{};
    };
    PrefixRates& rates_for(const std::string& prefix, Clock::time_point now);
    std::unordered_map<std::string, PrefixRates> m_prefix_rates;
    std::unordered_map<std::string, Clock::time_point> m_penalized;  ///< ip -> refused until
    std::list<PendingHandshake> m_pending;                           ///< in start order
    std::uint64_t m_next_pending_id = 0;
    std::shared_ptr<net::MemoryBudget> m_budget;
    net::LinkLimits m_link_limits;
    ResolverPool m_resolver;
    UsageMeter m_meter;
    std::size_t m_handshakes = 0;
    std::size_t m_exit_streams = 0;  ///< open
    std::size_t m_exit_pending = 0;  ///< resolving or connecting
    std::uint64_t m_socket_cap = 0;  ///< sockets for links and exit streams (set by start)
    bool m_stopped = false;
};

}  // namespace conet::relay
