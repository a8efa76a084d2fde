#include "conet/node/node_context.hpp"

#include <spdlog/spdlog.h>

#include "conet/node/config.hpp"
#include "conet/util/file.hpp"

namespace conet::node {

util::Result<const ledger::Genesis*, std::string> NodeContext::load_genesis(const std::string& path,
                                                                            std::string_view what) {
    if (m_genesis) return &*m_genesis;
    if (path.empty()) return util::unexpected(std::string(what) + ": no genesis file given");
    auto text = util::read_file(path, 16u << 20);
    if (!text) return util::unexpected(std::string(what) + ": " + text.error().message());
    auto g = ledger::Genesis::from_json(*text);
    if (!g) return util::unexpected(std::string(what) + ": " + g.error());
    m_genesis = std::move(*g);
    return &*m_genesis;
}

util::Result<net::tcp::endpoint, std::string> NodeContext::listen_address(const std::string& host_port,
                                                                          std::string_view what) {
    auto hp = parse_host_port(host_port);
    if (!hp) return util::unexpected(std::string(what) + ": " + hp.error());
    boost::system::error_code ec;
    const auto addr = net::asio::ip::make_address(hp->host, ec);
    if (ec) return util::unexpected(std::string(what) + " must be an IP literal and port, not " + host_port);
    return net::tcp::endpoint(addr, hp->port);
}

void NodeContext::run(std::string_view who) {
    net::asio::signal_set signals(m_io, SIGINT, SIGTERM);
    signals.async_wait([this, who = std::string(who)](boost::system::error_code ec, int sig) {
        if (ec) return;
        spdlog::info("[{}] signal {}: shutting down", who, sig);
        for (auto it = m_stops.rbegin(); it != m_stops.rend(); ++it) (*it)();
        m_io.stop();
    });
    m_io.run();
}

}  // namespace conet::node
