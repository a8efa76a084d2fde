#pragma once
/// The relay role (`conet node run`): accepts links from users (NK) and relays
/// (XK), keeps circuits, forwards onion-sealed cells, extends circuits to other
/// relays of its directory, and serves as exit (docs/protocol.md).

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <set>

#include "conet/ledger/node_record.hpp"
#include "conet/net/link.hpp"
#include "conet/net/stream.hpp"
#include "conet/relay/exit_policy.hpp"

namespace conet::relay {

namespace asio = boost::asio;
using net::awaitable;
using net::tcp;

struct RelayLimits {
    std::size_t max_links_per_ip = 256;
    std::size_t max_links = 4096;
    std::size_t max_handshakes_in_flight = 256;
    std::size_t max_circuits_per_link = 4096;
    std::uint32_t connect_timeout_ms = 10'000;  ///< exit: resolve + connect to a destination
};

struct RelayConfig {
    crypto::X25519KeyPair static_key;
    std::vector<tcp::endpoint> listen;
    bool exit_enabled = true;
    ExitPolicy exit_policy;
    RelayLimits limits;
    net::LinkLimits link_limits;
    /// Called (on the io thread) when a peer or an EXTEND names a relay the
    /// directory does not know; the ledger sync uses it to refresh early.
    std::function<void()> on_unknown_relay;
};

/// Counters exported as Prometheus text.
struct RelayMetrics {
    explicit RelayMetrics(prometheus::Registry& registry);
    prometheus::Gauge& links;
    prometheus::Gauge& circuits;
    prometheus::Gauge& streams;
    prometheus::Counter& bytes_in;
    prometheus::Counter& bytes_out;
    prometheus::Family<prometheus::Counter>& rejects;
    void reject(std::string_view reason) { rejects.Add({{"reason", std::string(reason)}}).Increment(); }
};

class RelayServer {
public:
    /// `directory` is read only inside handlers; its owner may replace it on the io thread.
    RelayServer(asio::io_context& io, RelayConfig config, const ledger::Directory& directory, util::Rng& rng,
                RelayMetrics& metrics);
    ~RelayServer();
    RelayServer(const RelayServer&) = delete;
    RelayServer& operator=(const RelayServer&) = delete;

    /// Binds every listen endpoint; returns the bound endpoints (port 0 resolved).
    util::Result<std::vector<tcp::endpoint>, std::string> start();
    void stop();
    /// Brings the gauges up to date (before a scrape).
    void refresh_metrics() { update_gauges(); }

    struct Circuit;
    struct LinkState;

private:
    awaitable<void> accept_loop(tcp::acceptor& acceptor);
    awaitable<void> handshake(tcp::socket socket, std::string ip);
    void adopt(std::shared_ptr<net::Link> link, std::string ip);
    void on_cell(LinkState& ls, util::ByteView bytes);
    void on_link_closed(LinkState* ls);
    void handle_create(LinkState& ls, const net::CellView& cell);
    void handle_extend(std::shared_ptr<Circuit> circ, const net::ExtendRequest& req, bool reply_as_relay);
    void handle_relay_forward(const std::shared_ptr<Circuit>& circ, util::ByteView body);
    void handle_relay_backward(const std::shared_ptr<Circuit>& circ, util::ByteView body);
    void handle_exit_message(const std::shared_ptr<Circuit>& circ, const net::RelayView& msg);
    awaitable<void> open_exit_stream(std::weak_ptr<Circuit> circ, std::uint32_t stream_id, net::Target target);
    awaitable<void> extend_to(std::weak_ptr<Circuit> circ, ledger::NodeRecord node, util::Bytes handshake,
                              bool reply_as_relay);
    void destroy(const std::shared_ptr<Circuit>& circ, net::EndReason reason, const LinkState* from);
    LinkState* link_to(const crypto::X25519Public& key);
    void update_gauges();

    asio::io_context& m_io;
    RelayConfig m_config;
    const ledger::Directory& m_directory;
    util::Rng& m_rng;
    RelayMetrics& m_metrics;
    std::vector<std::unique_ptr<tcp::acceptor>> m_acceptors;
    std::map<net::Link*, std::unique_ptr<LinkState>> m_links;
    std::map<std::string, std::size_t> m_links_per_ip;
    std::size_t m_handshakes = 0;
    std::size_t m_circuit_count = 0;
    bool m_stopped = false;
};

}  // namespace conet::relay
