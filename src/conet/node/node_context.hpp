#pragma once
/// NodeContext: what every long-running CONET process wires the same way,
/// whatever its roles — `conet node run` (relay, status endpoint, validator,
/// prober, follower, paid usage, registration) and `conet proxy` alike: one
/// single-threaded io_context, the RNG, the genesis read once, the loopback
/// or public addresses its servers listen on, and an orderly stop on SIGINT
/// or SIGTERM (the roles' stop hooks run in reverse order of start).

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conet/crypto/random.hpp"
#include "conet/ledger/chain.hpp"
#include "conet/net/asio.hpp"

namespace conet::node {

/// A role that could not start: the message says what to change.
using Status = util::Result<void, std::string>;

class NodeContext {
public:
    NodeContext() = default;
    NodeContext(const NodeContext&) = delete;
    NodeContext& operator=(const NodeContext&) = delete;

    net::asio::io_context& io() { return m_io; }
    util::Rng& rng() { return m_rng; }

    /// Reads and checks the genesis file once; `what` names its source in errors
    /// ("genesis", "--genesis").
    util::Result<const ledger::Genesis*, std::string> load_genesis(const std::string& path, std::string_view what);
    const ledger::Genesis* genesis() const { return m_genesis ? &*m_genesis : nullptr; }

    /// "HOST:PORT" with an IP literal, for a server to listen on; `what` names the setting.
    static util::Result<net::tcp::endpoint, std::string> listen_address(const std::string& host_port,
                                                                        std::string_view what);

    /// Runs at shutdown, after the ones added later.
    void on_stop(std::function<void()> stop) { m_stops.push_back(std::move(stop)); }
    /// Serves until SIGINT or SIGTERM, runs the stop hooks, and returns when
    /// the io_context has stopped. `who` prefixes the log line.
    void run(std::string_view who);

private:
    net::asio::io_context m_io{1};
    crypto::SystemRng m_rng;
    std::optional<ledger::Genesis> m_genesis;
    std::vector<std::function<void()>> m_stops;
};

}  // namespace conet::node
